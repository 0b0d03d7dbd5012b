//! The `dunning` command: a thin CLI over the library. `dunning` alone serves.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use dunning::app::Application;
use dunning::cli;
use dunning::config::{LogFormat, Settings};
use dunning::store::Store;
use dunning::tenants::{StripeInput, TenantInput};
use secrecy::SecretString;

#[derive(Parser)]
#[command(
    name = "dunning",
    version,
    about = "Payment recovery for subscription billing: receives Stripe webhooks, retries failed payments, \
             reminds customers, and measures what it recovers.",
    long_about = "Payment recovery for subscription billing.\n\nWith no command, `dunning` serves on \
                  DUNNING_LISTEN (default 127.0.0.1:8080) using DUNNING_DATABASE_URL (default \
                  sqlite://dunning.db). Configuration comes from DUNNING_* environment variables and an \
                  optional dunning.toml; see the README."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: HTTP API, webhook inbox and workers (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants (the companies whose payments are recovered) directly in the database.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Sign a fixture with a tenant's webhook secret and POST it to a running service, like `stripe trigger`.
    SendFixture {
        /// A Stripe event JSON file, e.g. fixtures/stripe/invoice.payment_failed.json
        file: PathBuf,
        /// Tenant id (`default` posts to /webhooks/stripe).
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Base URL of the running service (default: http://DUNNING_LISTEN).
        #[arg(long)]
        url: Option<String>,
        /// Signing secret to use instead of the tenant's first stored one.
        #[arg(long, env = "DUNNING_FIXTURE_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Send the event id as it is in the file (default: a fresh id, so each send is a new event).
        #[arg(long)]
        keep_id: bool,
    },
    /// Replay a scenario (invoices, webhooks, clock advances) against an embedded service with a test
    /// clock and a fake Stripe, and print each case's timeline. See scenarios/ for examples.
    Simulate {
        /// A scenario JSON file, e.g. scenarios/insufficient_funds.json
        scenario: PathBuf,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its API key (shown once).
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, env = "DUNNING_TENANT_STRIPE_SECRET_KEY", hide_env_values = true)]
        stripe_secret_key: Option<String>,
        /// A webhook signing secret (whsec_…); repeat for several.
        #[arg(long = "webhook-secret", required = true)]
        webhook_secrets: Vec<String>,
        #[arg(long)]
        stripe_api_base: Option<String>,
        #[arg(long)]
        locale: Option<String>,
        #[arg(long)]
        time_zone: Option<String>,
        /// manage (we retry) or observe (Stripe retries; we track and communicate).
        #[arg(long)]
        mode: Option<String>,
    },
    /// List tenants.
    List,
    /// Show one tenant (secrets are never shown).
    Show { id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let store = Store::connect(&settings.database_url, 2).await?;
            store.migrate().await?;
            println!("migrations applied to {}", store.backend_name());
            Ok(())
        }
        Command::Tenant { command } => tenant(settings, command).await,
        Command::Simulate { scenario } => {
            let text = std::fs::read_to_string(&scenario)?;
            let parsed: dunning::simulate::Scenario = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", scenario.display()))?;
            print!("{}", dunning::simulate::run(&parsed).await?);
            Ok(())
        }
        Command::SendFixture {
            file,
            tenant,
            url,
            secret,
            keep_id,
        } => {
            let base = url.unwrap_or_else(|| format!("http://{}", settings.listen));
            let reply =
                cli::send_fixture(&settings, &file, &tenant, &base, secret, keep_id).await?;
            println!("{reply}");
            Ok(())
        }
    }
}

async fn tenant(settings: Settings, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            id,
            name,
            stripe_secret_key,
            webhook_secrets,
            stripe_api_base,
            locale,
            time_zone,
            mode,
        } => {
            let input = TenantInput {
                id: Some(id),
                name: Some(name),
                stripe: Some(StripeInput {
                    secret_key: stripe_secret_key.map(SecretString::from),
                    webhook_secrets: Some(
                        webhook_secrets
                            .into_iter()
                            .map(SecretString::from)
                            .collect(),
                    ),
                    api_base: stripe_api_base,
                }),
                locale,
                time_zone,
                mode,
                ..TenantInput::default()
            };
            let (view, api_key) = cli::create_tenant(&settings, input).await?;
            println!("{}", serde_json::to_string_pretty(&view)?);
            println!("API key (shown once): {api_key}");
        }
        TenantCommand::List => {
            for t in cli::list_tenants(&settings).await? {
                println!("{}\t{}\t{}\t{}", t.id, t.status, t.mode, t.name);
            }
        }
        TenantCommand::Show { id } => println!(
            "{}",
            serde_json::to_string_pretty(&cli::show_tenant(&settings, &id).await?)?
        ),
    }
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    for notice in &app.first_run_notices {
        println!("{notice}");
    }
    tracing::info!(addr = %app.local_addr(), "dunning is listening");
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    app.run_until_stopped(stop).await
}

async fn stop_on_signal(stop: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: no new requests; draining in-flight tasks");
    stop.cancel();
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,apalis=warn,stripe=error")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
