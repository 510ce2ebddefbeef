"""What the search benchmarks share: a `trellis serve` on an empty data directory, with an
owner's token, and calls to its API."""
import json, os, subprocess, tempfile, time, urllib.request


class Server:
    """`trellis serve` on 127.0.0.1:PORT over a new data directory, with an owner's token.
    Use as a context manager: the server stops on exit."""

    def __init__(self, binary, port, embedder, log=None):
        self.base = f"http://127.0.0.1:{port}"
        self.data = tempfile.mkdtemp(prefix="trellis-bench-")
        subprocess.run([binary, "user", "create", "--email", "bench@example.com", "--name",
                        "Bench", "--role", "owner", "--data-dir", self.data],
                       check=True, capture_output=True)
        self.token = subprocess.run(
            [binary, "token", "create", "--user", "bench@example.com", "--data-dir", self.data],
            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        self.process = subprocess.Popen(
            [binary, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", self.data,
             "--embedder", embedder, "--rate-limit-per-second", "100000",
             "--rate-limit-burst", "100000"],
            stdout=subprocess.DEVNULL, stderr=open(log or os.devnull, "w"))
        for _ in range(600):
            try:
                urllib.request.urlopen(self.base + "/health", timeout=1)
                return
            except Exception:
                time.sleep(0.1)
        self.process.terminate()
        raise SystemExit("trellis serve did not answer /health within a minute")

    def call(self, method, path, body=None, timeout=120):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Notion-Version": "2025-09-03",
            "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.process.terminate()
        self.process.wait()
