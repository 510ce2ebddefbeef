//! The registry: packages (registered, reviewed, compiled once per process), installations
//! (their grants, secrets and webhook tokens), and the caches the worker reads on every pass:
//! manifests, bot users, and every installation with its parsed config.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use access::UserActor;
use document::Id;
use runtime::{LoadedComponent, Runtime};
use sha2::{Digest, Sha256};
use storage_sql::{InstallationRecord, PackageRecord};
use workspace::Workspace;
use workspace::clock::now_ms as now;

use crate::manifest::{Manifest, WorkspaceScope};
use crate::platform::PlatformLimits;
use crate::record::InstallConfig;
use crate::{Error, Result};

/// Random bytes in a webhook URL token.
const WEBHOOK_TOKEN_BYTES: usize = 32;
/// Size of a secret's value.
const SECRET_VALUE_BYTES_MAX: usize = 16 << 10;
/// The most runs per hour an owner may grant an installation.
const GRANTED_RUNS_PER_HOUR_MAX: i64 = 1_000_000;

/// A registered package as the API shows it.
#[derive(Debug, Clone)]
pub struct PackageView {
    pub record: PackageRecord,
    pub manifest: Manifest,
    /// The interfaces the component imports.
    pub imports: Vec<String>,
}

/// What an owner asks for when installing. `None` grants everything the manifest declares.
#[derive(Debug, Clone, Default)]
pub struct InstallRequest {
    pub package_id: Id,
    pub workspace: Option<Vec<WorkspaceScope>>,
    pub egress: Option<Vec<String>>,
    pub runs_per_hour_max: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct InstallationView {
    pub record: InstallationRecord,
    pub package: PackageRecord,
    pub manifest: Manifest,
    pub config: InstallConfig,
}

/// Every installation and its parsed config as of one revision of the installations table
/// (`Tx::installations_revision`): passes share it, and read the table again only when the
/// revision moved.
pub(crate) struct Installations {
    revision: i64,
    pub(crate) records: HashMap<Id, Arc<InstallationRecord>>,
    /// Every config that parses; one that doesn't is reported by [`Installations::config`].
    pub(crate) configs: HashMap<Id, Arc<InstallConfig>>,
}

impl Installations {
    /// The installation's config; `None` for an installation that is gone, an error for one
    /// whose config doesn't parse.
    pub(crate) fn config(&self, installation_id: Id) -> Result<Option<Arc<InstallConfig>>> {
        if let Some(config) = self.configs.get(&installation_id) {
            return Ok(Some(config.clone()));
        }
        match self.records.get(&installation_id) {
            // Left out of `configs` because it doesn't parse: parsing it again says why.
            Some(installation) => Ok(Some(Arc::new(InstallConfig::from_json(
                &installation.config,
            )?))),
            None => Ok(None),
        }
    }
}

/// Packages and installations, and what the worker caches of them.
pub(crate) struct Registry {
    workspace: Workspace,
    runtime: Runtime,
    limits: PlatformLimits,
    components: Mutex<HashMap<Id, LoadedComponent>>,
    /// Manifests by package id, and bot users by integration id: both never change once
    /// stored, and the worker reads them for every installation on every trigger pass.
    manifests: Mutex<HashMap<Id, Arc<Manifest>>>,
    bot_users: Mutex<HashMap<Id, Id>>,
    /// What the last admission read of the installations table found.
    installations: Mutex<Option<Arc<Installations>>>,
}

impl Registry {
    pub(crate) fn new(workspace: Workspace, runtime: Runtime, limits: PlatformLimits) -> Registry {
        Registry {
            workspace,
            runtime,
            limits,
            components: Mutex::new(HashMap::new()),
            manifests: Mutex::new(HashMap::new()),
            bot_users: Mutex::new(HashMap::new()),
            installations: Mutex::new(None),
        }
    }

    // ----- packages -------------------------------------------------------------------------

    /// Registers a package for `user`: parses the manifest, compiles the component and reviews
    /// it against the manifest. Registering the same name, version and component again returns
    /// the existing package; the same name and version with another component is a conflict.
    pub(crate) async fn register(
        &self,
        user: &UserActor,
        manifest_text: &str,
        component: &[u8],
    ) -> Result<PackageView> {
        if manifest_text.len() > self.limits.manifest_bytes_max {
            return Err(Error::Invalid(format!(
                "manifest: larger than {} bytes",
                self.limits.manifest_bytes_max
            )));
        }
        if component.len() > self.limits.component_bytes_max {
            return Err(Error::Invalid(format!(
                "component: larger than {} bytes",
                self.limits.component_bytes_max
            )));
        }
        let manifest = Manifest::parse(manifest_text)?;
        let loaded = self.load_bytes(component).await?;
        // Review: a component may import only what its manifest declares.
        let declared = declared_config(&manifest);
        loaded
            .check_grants(&declared.grants(&manifest)?)
            .map_err(|error| Error::ReviewRefused(error.to_string()))?;
        let digest = hex::encode(Sha256::digest(component));
        let mut tx = self.workspace.store().write().await?;
        let existing = tx
            .find_package(&manifest.integration.name, &manifest.integration.version)
            .await?;
        let record = match existing {
            Some(existing)
                if existing.digest == digest && existing.manifest == manifest.to_json() =>
            {
                existing
            }
            Some(_) => {
                return Err(Error::Conflict(format!(
                    "{} {} is already registered with another component or manifest; bump the version",
                    manifest.integration.name, manifest.integration.version
                )));
            }
            None => {
                let record = PackageRecord {
                    id: Id::new(),
                    name: manifest.integration.name.clone(),
                    version: manifest.integration.version.clone(),
                    manifest: manifest.to_json(),
                    digest,
                    created_by: Some(user.id),
                    created_time: now(),
                };
                tx.insert_package(&record, component).await?;
                record
            }
        };
        tx.commit().await?;
        self.components
            .lock()
            .expect("components lock")
            .insert(record.id, loaded.clone());
        Ok(PackageView {
            record,
            manifest,
            imports: imports(&loaded),
        })
    }

    pub(crate) async fn packages(&self) -> Result<Vec<PackageView>> {
        let mut tx = self.workspace.store().read().await?;
        let records = tx.list_packages().await?;
        tx.commit().await?;
        let mut views = Vec::new();
        for record in records {
            let manifest = Manifest::from_json(&record.manifest)?;
            let loaded = self.component(record.id).await?;
            views.push(PackageView {
                record,
                manifest,
                imports: imports(&loaded),
            });
        }
        Ok(views)
    }

    async fn load_bytes(&self, component: &[u8]) -> Result<LoadedComponent> {
        let runtime = self.runtime.clone();
        let bytes = component.to_vec();
        // Compiling a JS component takes seconds: keep it off the async workers.
        tokio::task::spawn_blocking(move || runtime.load(&bytes))
            .await
            .map_err(|error| Error::Internal(error.to_string()))?
            .map_err(|error| Error::ReviewRefused(error.to_string()))
    }

    /// The compiled component of a package, compiled once per process (and cached on disk by
    /// the runtime).
    pub(crate) async fn component(&self, package_id: Id) -> Result<LoadedComponent> {
        if let Some(loaded) = self
            .components
            .lock()
            .expect("components lock")
            .get(&package_id)
        {
            return Ok(loaded.clone());
        }
        let mut tx = self.workspace.store().read().await?;
        let bytes = tx.package_component(package_id).await?;
        tx.commit().await?;
        let loaded = self.load_bytes(&bytes).await?;
        self.components
            .lock()
            .expect("components lock")
            .insert(package_id, loaded.clone());
        Ok(loaded)
    }

    /// A package's manifest, parsed once per process.
    pub(crate) async fn manifest_of(
        &self,
        tx: &mut storage_sql::Tx,
        package_id: Id,
    ) -> Result<Arc<Manifest>> {
        if let Some(manifest) = self
            .manifests
            .lock()
            .expect("manifests lock")
            .get(&package_id)
        {
            return Ok(manifest.clone());
        }
        let package = tx
            .get_package(package_id)
            .await?
            .ok_or_else(|| Error::not_found("package", package_id))?;
        let manifest = Arc::new(Manifest::from_json(&package.manifest)?);
        self.manifests
            .lock()
            .expect("manifests lock")
            .insert(package_id, manifest.clone());
        Ok(manifest)
    }

    /// The bot user an integration acts as, read once per process.
    pub(crate) async fn bot_user_of(
        &self,
        tx: &mut storage_sql::Tx,
        integration_id: Id,
    ) -> Result<Option<Id>> {
        if let Some(bot) = self
            .bot_users
            .lock()
            .expect("bot users lock")
            .get(&integration_id)
        {
            return Ok(Some(*bot));
        }
        let Some(integration) = tx.get_integration(integration_id).await? else {
            return Ok(None);
        };
        self.bot_users
            .lock()
            .expect("bot users lock")
            .insert(integration_id, integration.bot_user_id);
        Ok(Some(integration.bot_user_id))
    }

    // ----- installations --------------------------------------------------------------------

    /// Installs a package for `user`, or moves an existing installation of the same integration
    /// name to this package with the new grants. Grants must be a subset of the manifest's
    /// declarations.
    pub(crate) async fn install(
        &self,
        user: &UserActor,
        request: InstallRequest,
    ) -> Result<InstallationView> {
        let mut tx = self.workspace.store().read().await?;
        let package = tx
            .get_package(request.package_id)
            .await?
            .ok_or_else(|| Error::not_found("package", request.package_id))?;
        tx.commit().await?;
        let manifest = Manifest::from_json(&package.manifest)?;
        let mut config = declared_config(&manifest);
        if let Some(scopes) = request.workspace {
            if let Some(extra) = scopes
                .iter()
                .find(|scope| !config.workspace.contains(scope))
            {
                return Err(Error::Invalid(format!(
                    "workspace scope `{}` is not declared by the manifest",
                    extra.name()
                )));
            }
            config.workspace = scopes;
        }
        if let Some(egress) = request.egress {
            if let Some(extra) = egress.iter().find(|origin| !config.egress.contains(origin)) {
                return Err(Error::Invalid(format!(
                    "egress origin `{extra}` is not declared by the manifest"
                )));
            }
            config.egress = egress;
        }
        if let Some(rate) = request.runs_per_hour_max {
            if !(1..=GRANTED_RUNS_PER_HOUR_MAX).contains(&rate) {
                return Err(Error::Invalid(format!(
                    "runs_per_hour_max should be between 1 and {GRANTED_RUNS_PER_HOUR_MAX}"
                )));
            }
            config.runs_per_hour_max = rate;
        } else {
            config.runs_per_hour_max = self.limits.installation_runs_per_hour_max;
        }
        config.concurrent_runs_max = self.limits.installation_concurrent_runs_max;
        let integration = self
            .workspace
            .ensure_integration(
                &manifest.integration.name,
                config.capabilities(),
                Some(user.id),
            )
            .await?;
        self.workspace
            .set_integration_capabilities(integration.id, config.capabilities())
            .await?;
        let mut tx = self.workspace.store().write().await?;
        let existing = tx
            .list_installations(true)
            .await?
            .into_iter()
            .find(|installation| installation.integration_id == integration.id);
        let record = match existing {
            Some(mut record) => {
                tx.update_installation(record.id, package.id, &config.to_json(), true)
                    .await?;
                record.package_id = package.id;
                record.config = config.to_json();
                record.active = true;
                record
            }
            None => {
                let record = InstallationRecord {
                    id: Id::new(),
                    package_id: package.id,
                    integration_id: integration.id,
                    installed_by: user.id,
                    config: config.to_json(),
                    active: true,
                    created_time: now(),
                };
                tx.insert_installation(&record).await?;
                record
            }
        };
        tx.commit().await?;
        Ok(InstallationView {
            record,
            package,
            manifest,
            config,
        })
    }

    pub(crate) async fn installations(&self) -> Result<Vec<InstallationView>> {
        let mut tx = self.workspace.store().read().await?;
        let records = tx.list_installations(false).await?;
        // One read of the packages for the whole list, not one per installation.
        let packages: HashMap<Id, PackageRecord> = tx
            .list_packages()
            .await?
            .into_iter()
            .map(|package| (package.id, package))
            .collect();
        tx.commit().await?;
        let mut views = Vec::with_capacity(records.len());
        for record in records {
            let package = packages
                .get(&record.package_id)
                .cloned()
                .ok_or_else(|| Error::not_found("package", record.package_id))?;
            views.push(InstallationView {
                manifest: Manifest::from_json(&package.manifest)?,
                config: InstallConfig::from_json(&record.config)?,
                record,
                package,
            });
        }
        Ok(views)
    }

    pub(crate) async fn installation(&self, id: Id) -> Result<InstallationView> {
        let mut tx = self.workspace.store().read().await?;
        let record = tx
            .get_installation(id)
            .await?
            .ok_or_else(|| Error::not_found("installation", id))?;
        let view = installation_view(&mut tx, record).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// The active installation a webhook URL token (not its hash) names, if any.
    pub(crate) async fn installation_by_webhook_token(
        &self,
        token: &str,
    ) -> Result<Option<InstallationView>> {
        let mut tx = self.workspace.store().read().await?;
        let installation_id = tx
            .installation_by_webhook_token(&workspace::hash_token(token))
            .await?;
        let record = match installation_id {
            Some(id) => tx.get_installation(id).await?,
            None => None,
        };
        let view = match record {
            Some(record) if record.active => Some(installation_view(&mut tx, record).await?),
            _ => None,
        };
        tx.commit().await?;
        Ok(view)
    }

    /// Every installation and its config, read again only when the installations table has
    /// changed since the last read (`tx` reads its revision).
    pub(crate) async fn installations_at(
        &self,
        tx: &mut storage_sql::Tx,
    ) -> Result<Arc<Installations>> {
        let revision = tx.installations_revision().await?;
        let cached = self
            .installations
            .lock()
            .expect("installations cache lock")
            .clone()
            .filter(|cached| cached.revision == revision);
        if let Some(cached) = cached {
            return Ok(cached);
        }
        let records: HashMap<Id, Arc<InstallationRecord>> = tx
            .list_installations(true)
            .await?
            .into_iter()
            .map(|record| (record.id, Arc::new(record)))
            .collect();
        let configs = records
            .values()
            .filter_map(|record| {
                InstallConfig::from_json(&record.config)
                    .ok()
                    .map(|config| (record.id, Arc::new(config)))
            })
            .collect();
        let read = Arc::new(Installations {
            revision,
            records,
            configs,
        });
        *self.installations.lock().expect("installations cache lock") = Some(read.clone());
        Ok(read)
    }

    /// Sets a secret the manifest declares; the value is never shown again.
    pub(crate) async fn set_secret(&self, id: Id, name: &str, value: &str) -> Result<()> {
        let view = self.installation(id).await?;
        if !view
            .manifest
            .scopes
            .secrets
            .iter()
            .any(|declared| declared == name)
        {
            return Err(Error::Invalid(format!(
                "secret `{name}` is not declared in the manifest's scopes.secrets"
            )));
        }
        if value.len() > SECRET_VALUE_BYTES_MAX {
            return Err(Error::Invalid(format!(
                "a secret's value is at most {} KiB",
                SECRET_VALUE_BYTES_MAX >> 10
            )));
        }
        let mut tx = self.workspace.store().write().await?;
        tx.secret_set(id, name, value).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes a new webhook URL token for an installation whose manifest declares
    /// `triggers.webhook`, and returns it; the previous token stops working. The store keeps
    /// only the token's SHA-256, so it is shown once.
    pub(crate) async fn rotate_webhook_token(&self, installation_id: Id) -> Result<String> {
        use base64::Engine as _;
        use rand::RngCore as _;
        let view = self.installation(installation_id).await?;
        if !view.manifest.triggers.webhook {
            return Err(Error::Invalid(format!(
                "{} does not accept webhook events (triggers.webhook = false)",
                view.manifest.integration.name
            )));
        }
        let mut bytes = [0u8; WEBHOOK_TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut tx = self.workspace.store().write().await?;
        tx.set_webhook_token(installation_id, &workspace::hash_token(&token), now())
            .await?;
        tx.commit().await?;
        Ok(token)
    }
}

/// Everything the manifest declares, granted: the ceiling of an installation's config.
fn declared_config(manifest: &Manifest) -> InstallConfig {
    InstallConfig {
        workspace: manifest.scopes.workspace.clone(),
        kv: manifest.scopes.kv,
        secrets: manifest.scopes.secrets.clone(),
        models: manifest.scopes.models,
        vector_search: manifest.scopes.vector_search,
        egress: manifest.egress.allow.clone(),
        limits: manifest.limits.clone(),
        runs_per_hour_max: PlatformLimits::default().installation_runs_per_hour_max,
        concurrent_runs_max: PlatformLimits::default().installation_concurrent_runs_max,
    }
}

fn imports(loaded: &LoadedComponent) -> Vec<String> {
    loaded
        .capabilities()
        .iter()
        .map(|capability| capability.interface().to_string())
        .collect()
}

async fn installation_view(
    tx: &mut storage_sql::Tx,
    record: InstallationRecord,
) -> Result<InstallationView> {
    let package = tx
        .get_package(record.package_id)
        .await?
        .ok_or_else(|| Error::not_found("package", record.package_id))?;
    let manifest = Manifest::from_json(&package.manifest)?;
    let config = InstallConfig::from_json(&record.config)?;
    Ok(InstallationView {
        record,
        package,
        manifest,
        config,
    })
}
