//! Start-up and wiring: `Application::build` connects, migrates, loads keys, binds the listener;
//! `run_until_stopped` runs the API, the workers and the sweep until the stop token fires, then drains.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Role, Settings};
use crate::crypto::{self, Keys};
use crate::jobs::process_event::EventSink;
use crate::jobs::{self, WorkerHealth};
use crate::providers::Provider;
use crate::providers::api::ProcessorApi;
use crate::providers::stripe::Stripe;
use crate::store::Store;
use crate::store::inbox::InboxWriter;
use crate::tenants::TenantCache;
use crate::tenants::{self, DEFAULT_TENANT, StripeInput, TenantInput};

/// Everything a handler or a job needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub keys: Keys,
    pub settings: Arc<Settings>,
    pub clock: Clock,
    pub stripe: Arc<dyn Provider>,
    pub engine: Arc<dyn EventSink>,
    pub processor: Arc<dyn ProcessorApi>,
    /// Group-committing writer for webhook deliveries.
    pub inbox: InboxWriter,
    pub tenant_cache: Arc<TenantCache>,
    /// Campaign versions (immutable once stored) the engine has read.
    pub campaigns: Arc<crate::engine::CampaignCache>,
    /// Bounds the case work in flight (mostly processor calls) to `work_concurrency`.
    pub work_slots: Arc<tokio::sync::Semaphore>,
    /// Held by a scheduler pass and by a test-clock advance, so that a pass never queues work at the
    /// old time while the clock is being moved.
    pub scheduling: Arc<tokio::sync::Mutex<()>>,
    /// Where customer emails go (`DUNNING_EMAIL`).
    pub mailer: Arc<crate::email::transport::Mailer>,
    /// Where SMS steps go (`DUNNING_SMS`); `None`: SMS is off.
    pub sms: Option<Arc<crate::sms::SmsApi>>,
    pub admin_token_hash: Arc<str>,
    pub health: Arc<WorkerHealth>,
    /// Makes worker names unique per process start, as apalis requires.
    pub instance_id: Arc<str>,
}

pub struct Application {
    state: AppState,
    listener: TcpListener,
    /// Credentials generated during this start, to be shown to the operator exactly once.
    pub first_run_notices: Vec<String>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Arc::new(crate::engine::Engine)).await
    }

    /// Like [`build`](Self::build) with another event sink (the engine, or a test double).
    pub async fn build_with(
        mut settings: Settings,
        engine: Arc<dyn EventSink>,
    ) -> anyhow::Result<Self> {
        crate::tune_allocator();
        // SQLite has one writer: a single connection queues work in the pool instead of in SQLite's
        // busy-wait, whose sleeps would dominate tail latency.
        let connections = if settings.is_postgres() {
            settings.db_max_connections
        } else {
            1
        };
        let store = Store::connect(&settings.database_url, connections)
            .await
            .with_context(|| format!("connecting to the {} database", backend_of(&settings)))?;
        store
            .migrate()
            .await
            .context("applying database migrations")?;
        let mut notices = Vec::new();
        let keys = load_keys(&store, &settings).await?;
        let processor = Arc::new(crate::providers::stripe::client::StripeApi::new(
            crate::providers::stripe::client::StripeApiConfig {
                timeout: settings.processor_timeout,
                max_retries: settings.processor_retries,
                ..Default::default()
            },
        ));
        let admin_token_hash = admin_token_hash(&store, &settings, &mut notices).await?;
        let clock = if settings.test_clock {
            // A restart must not move the test clock back: work planned at the advanced time would
            // wait, and rows claimed then would look fresh.
            let saved = store
                .setting(crate::jobs::scheduler::TEST_CLOCK_KEY)
                .await?
                .and_then(|v| chrono::DateTime::parse_from_rfc3339(&v).ok())
                .map(|t| t.with_timezone(&chrono::Utc));
            let clock =
                Clock::test(saved.map_or_else(chrono::Utc::now, |t| t.max(chrono::Utc::now())));
            let requeued = store.requeue_interrupted_work(clock.now()).await?;
            if requeued > 0 {
                tracing::warn!(
                    requeued,
                    "test clock: work left in flight by the last run is due again"
                );
            }
            clock
        } else {
            Clock::System
        };
        if let Some(shortcut) = &settings.stripe {
            apply_stripe_shortcut(&store, &keys, &clock, shortcut, &mut notices).await?;
        }
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {} (DUNNING_LISTEN)", settings.listen))?;
        // Links in emails and the card-update flow must name the port really bound (`:0` picks one).
        if settings.public_url == format!("http://{}", settings.listen) {
            settings.public_url = format!("http://{}", listener.local_addr()?);
        }
        let state = AppState {
            inbox: InboxWriter::start(store.clone()),
            tenant_cache: Arc::new(TenantCache::default()),
            campaigns: Arc::default(),
            work_slots: Arc::new(tokio::sync::Semaphore::new(settings.work_concurrency)),
            scheduling: Arc::default(),
            mailer: Arc::new(
                crate::email::transport::Mailer::from_setting(&settings.email)
                    .map_err(anyhow::Error::msg)?,
            ),
            sms: match &settings.sms {
                Some(url) => Some(Arc::new(
                    crate::sms::SmsApi::from_url(url.expose_secret())
                        .map_err(anyhow::Error::msg)?,
                )),
                None => None,
            },
            store,
            keys,
            settings: Arc::new(settings),
            clock,
            stripe: Arc::new(Stripe),
            engine,
            processor,
            admin_token_hash: admin_token_hash.into(),
            health: Arc::new(WorkerHealth::default()),
            instance_id: uuid::Uuid::new_v4().simple().to_string()[..12].into(),
        };
        Ok(Application {
            state,
            listener,
            first_run_notices: notices,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves and works until `stop` is cancelled; then stops accepting, lets in-flight tasks finish
    /// within the shutdown timeout, and returns.
    pub async fn run_until_stopped(self, stop: CancellationToken) -> anyhow::Result<()> {
        let Application {
            state, listener, ..
        } = self;
        let role = state.settings.role;
        let router = crate::http::router(state.clone());
        let server =
            axum::serve(listener, router).with_graceful_shutdown(stop.clone().cancelled_owned());
        let runs_workers = role != Role::Api;
        let monitor = runs_workers.then(|| jobs::monitor(&state));
        let workers = async {
            if let Some(m) = monitor {
                let signal = stop.clone();
                if let Err(e) = m
                    .run_with_signal(async move {
                        signal.cancelled().await;
                        Ok(())
                    })
                    .await
                {
                    tracing::error!(error = %e, "workers stopped with an error");
                }
            }
        };
        let sweep = async {
            if runs_workers {
                tokio::join!(
                    jobs::sweep::run(state.clone(), stop.clone()),
                    jobs::purge::run(state.clone(), stop.clone()),
                );
            }
        };
        let scheduler = async {
            if runs_workers {
                jobs::scheduler::run(state.clone(), stop.clone()).await;
            }
        };
        let (served, _, _, _) = tokio::join!(server, workers, sweep, scheduler);
        state.store.close().await;
        served.context("HTTP server failed")
    }
}

fn backend_of(s: &Settings) -> &'static str {
    if s.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// The service secret: `DUNNING_SECRET`, or one generated on first run and kept in the database (dev
/// mode). A check value catches a later start with a different secret before it garbles anything.
pub(crate) async fn load_keys(store: &Store, settings: &Settings) -> anyhow::Result<Keys> {
    let now = chrono::Utc::now();
    let secret = match &settings.secret {
        Some(s) => s.clone(),
        None => {
            let generated = crypto::random_token("");
            SecretString::from(
                store
                    .setting_or_insert("generated_secret", &generated, now)
                    .await?,
            )
        }
    };
    let keys = Keys::derive(&secret);
    let stored = store
        .setting_or_insert("secret_check", &keys.check_value(), now)
        .await?;
    if stored != keys.check_value() {
        anyhow::bail!(
            "DUNNING_SECRET: differs from the secret this database was set up with; stored processor \
             secrets could not be read. Use the original secret."
        );
    }
    Ok(keys)
}

/// The admin token's hash: from `DUNNING_ADMIN_TOKEN`, else generated once and announced once.
async fn admin_token_hash(
    store: &Store,
    settings: &Settings,
    notices: &mut Vec<String>,
) -> anyhow::Result<String> {
    if let Some(t) = &settings.admin_token {
        return Ok(crypto::hash_token(t.expose_secret()));
    }
    let token = crypto::random_token("dadm_");
    let hash = crypto::hash_token(&token);
    let stored = store
        .setting_or_insert("admin_token_hash", &hash, chrono::Utc::now())
        .await?;
    if stored == hash {
        notices.push(format!(
            "Generated admin token (shown once; set DUNNING_ADMIN_TOKEN to choose your own): {token}"
        ));
    }
    Ok(stored)
}

/// `DUNNING_STRIPE_*`: create or update the `default` tenant, served at `/webhooks/stripe`.
async fn apply_stripe_shortcut(
    store: &Store,
    keys: &Keys,
    clock: &Clock,
    s: &crate::config::StripeShortcut,
    notices: &mut Vec<String>,
) -> anyhow::Result<()> {
    let input = TenantInput {
        stripe: Some(StripeInput {
            secret_key: Some(s.secret_key.clone()),
            webhook_secrets: Some(vec![s.webhook_secret.clone()]),
            api_base: s.api_base.clone(),
        }),
        ..TenantInput::default()
    };
    let now = clock.now();
    match store.tenant(DEFAULT_TENANT).await? {
        Some(mut row) => {
            tenants::apply(&mut row, input, keys, false)
                .map_err(|e| anyhow::anyhow!("DUNNING_STRIPE_*: {e}"))?;
            row.updated_at = now;
            store.update_tenant(&row).await?;
        }
        None => {
            let api_key = crypto::random_token("dk_");
            let mut row = tenants::new_row(now, &api_key);
            let create = TenantInput {
                id: Some(DEFAULT_TENANT.into()),
                name: Some("Default".into()),
                ..input
            };
            tenants::apply(&mut row, create, keys, true)
                .map_err(|e| anyhow::anyhow!("DUNNING_STRIPE_*: {e}"))?;
            store.insert_tenant(&row).await?;
            notices.push(format!(
                "Created tenant \"default\"; its API key (shown once): {api_key}"
            ));
        }
    }
    Ok(())
}
