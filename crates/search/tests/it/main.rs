mod chunking;
mod content_index;
