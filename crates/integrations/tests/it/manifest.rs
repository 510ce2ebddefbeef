//! Manifests are parsed strictly, and review refuses a component that imports more than its
//! manifest declares; install grants at most what is declared.

use integrations::{Error, InstallRequest, Manifest, WorkspaceScope};

use crate::{Fixture, probe, probe_manifest};

fn invalid(text: &str) -> String {
    match Manifest::parse(text) {
        Err(Error::InvalidManifest(message)) => message,
        other => panic!("expected an invalid manifest, got {other:?}"),
    }
}

#[test]
fn manifests_are_parsed_strictly_with_errors_that_name_the_key() {
    let manifest = Manifest::parse(&probe_manifest(
        "1.2.3",
        "[triggers]\nchanges = [\"page.created\"]\n",
    ))
    .unwrap();
    assert_eq!(manifest.integration.name, "probe");
    assert_eq!(manifest.scopes.workspace.len(), 4);
    assert!(manifest.triggers.invoke, "invoke defaults to on");

    let base = "[integration]\nname = \"x\"\nversion = \"1.0.0\"\nlanguage = \"rust\"\n";
    assert!(invalid(&format!("{base}[scopes]\nwokspace = []\n")).contains("wokspace"));
    assert!(
        invalid("[integration]\nname = \"Bad Name\"\nversion = \"1.0.0\"\nlanguage = \"rust\"\n")
            .contains("integration.name")
    );
    assert!(
        invalid("[integration]\nname = \"x\"\nversion = \"one\"\nlanguage = \"rust\"\n")
            .contains("integration.version")
    );
    assert!(
        invalid("[integration]\nname = \"x\"\nversion = \"1.0.0\"\nlanguage = \"cobol\"\n")
            .contains("cobol")
    );
    assert!(invalid(&format!("{base}[egress]\nallow = [\"ftp://x\"]\n")).contains("egress.allow"));
    assert!(invalid(&format!("{base}[scopes]\nworkspace = [\"read_content\"]\n[triggers]\nchanges = [\"page.exploded\"]\n")).contains("page.exploded"));
    assert!(
        invalid(&format!("{base}[triggers]\nchanges = [\"page.created\"]\n"))
            .contains("read_content")
    );
    assert!(
        invalid(&format!(
            "{base}[[triggers.schedule]]\nname = \"a\"\ncron = \"61 * * * *\"\n"
        ))
        .contains("triggers.schedule")
    );
    assert!(
        invalid(&format!(
            "{base}[[triggers.schedule]]\nname = \"a\"\ncron = \"* * * * * *\"\n"
        ))
        .contains("five fields")
    );
    assert!(
        invalid(&format!("{base}[scopes]\nsecrets = [\"has space\"]\n")).contains("scopes.secrets")
    );
}

#[tokio::test]
async fn review_refuses_a_component_that_imports_what_its_manifest_does_not_declare() {
    let store = storage_sql::Store::open("sqlite::memory:").await.unwrap();
    let fixture = Fixture::new(store).await;
    // The probe imports http, kv, secrets, models and vector-search; this manifest declares
    // only reading the workspace.
    let narrow = "[integration]\nname = \"probe\"\nversion = \"1.0.0\"\nlanguage = \"rust\"\n[scopes]\nworkspace = [\"read_content\"]\n";
    match fixture
        .platform
        .register(&fixture.ada, narrow, probe())
        .await
    {
        Err(Error::ReviewRefused(message)) => {
            assert!(message.contains("trellis:integration"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Not a component at all.
    assert!(matches!(
        fixture
            .platform
            .register(&fixture.ada, &probe_manifest("1.0.0", ""), b"\0asm junk")
            .await,
        Err(Error::ReviewRefused(_))
    ));
    // Only owners register.
    assert!(matches!(
        fixture
            .platform
            .register(&fixture.ben, &probe_manifest("1.0.0", ""), probe())
            .await,
        Err(Error::Forbidden(_))
    ));
    // Registering again is idempotent; another component under the same version conflicts.
    let first = fixture
        .platform
        .register(&fixture.ada, &probe_manifest("1.0.0", ""), probe())
        .await
        .unwrap();
    let again = fixture
        .platform
        .register(&fixture.ada, &probe_manifest("1.0.0", ""), probe())
        .await
        .unwrap();
    assert_eq!(first.record.id, again.record.id);
    let changed = probe_manifest("1.0.0", "[data_use]\nstores = \"everything\"\n");
    assert!(matches!(
        fixture
            .platform
            .register(&fixture.ada, &changed, probe())
            .await,
        Err(Error::Conflict(_))
    ));

    // Install grants at most what is declared.
    let too_much = fixture
        .platform
        .install(
            &fixture.ada,
            InstallRequest {
                package_id: first.record.id,
                egress: Some(vec!["https://evil.example".into()]),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(too_much, Err(Error::Invalid(_))), "{too_much:?}");
    let read_only = fixture
        .platform
        .install(
            &fixture.ada,
            InstallRequest {
                package_id: first.record.id,
                workspace: Some(vec![WorkspaceScope::ReadContent]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        read_only.config.workspace,
        vec![WorkspaceScope::ReadContent]
    );
    assert!(!read_only.config.capabilities().insert_content);
}
