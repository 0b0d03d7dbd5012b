//! The `dunning` binary as a newcomer uses it: first run with no configuration, SIGTERM, the CLI.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dunning");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn command(dir: &Path, port: u16) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env("DUNNING_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("DUNNING_") && k != "DUNNING_LISTEN" {
            c.env_remove(k);
        }
    }
    c
}

fn wait_healthy(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("service exited early: {status}");
        }
        if http::healthz_ok(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("service never became healthy");
}

/// Minimal blocking GET of /healthz without pulling in a blocking HTTP client.
mod http {
    use std::io::{Read, Write};
    pub fn healthz_ok(port: u16) -> bool {
        let get = || -> std::io::Result<bool> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out.starts_with("HTTP/1.1 200"))
        };
        get().unwrap_or(false)
    }
}

fn stop(mut child: Child) -> (i32, String) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                stdout.read_to_string(&mut out).unwrap();
            }
            return (status.code().unwrap_or(-1), out);
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn first_run_needs_no_configuration_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = command(dir.path(), port)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port, &mut child);
    assert!(
        dir.path().join("dunning.db").exists(),
        "creates dunning.db in the working directory"
    );
    let (code, out) = stop(child);
    assert_eq!(code, 0, "SIGTERM is a clean exit");
    assert!(
        out.contains("Generated admin token"),
        "the first run prints the admin token: {out}"
    );

    // The second start reuses the stored secrets and does not print the token again.
    let mut child = command(dir.path(), port)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port, &mut child);
    let (code, out) = stop(child);
    assert_eq!(code, 0);
    assert!(!out.contains("admin token"), "{out}");
}

#[test]
fn configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), 1)
        .env("DUNNING_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DUNNING_LISTEN") && err.contains("expected"),
        "{err}"
    );
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "tenant", "send-fixture"] {
        assert!(text.contains(cmd), "{cmd} missing from --help: {text}");
    }
}

#[test]
fn tenant_cli_and_send_fixture_reach_a_running_service() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secret = "0123456789abcdef0123456789abcdef-cli-test";
    let run = |args: &[&str]| {
        let out = command(dir.path(), port)
            .env("DUNNING_SECRET", secret)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let created = run(&[
        "tenant",
        "create",
        "--id",
        "acme",
        "--name",
        "Acme",
        "--webhook-secret",
        "whsec_cli_test_000001",
    ]);
    assert!(created.contains("API key (shown once): dk_"), "{created}");
    assert!(run(&["tenant", "list"]).contains("acme"));
    let shown = run(&["tenant", "show", "acme"]);
    assert!(
        shown.contains("\"webhook_secret_count\": 1") && !shown.contains("whsec_cli"),
        "{shown}"
    );

    let mut child = command(dir.path(), port)
        .env("DUNNING_SECRET", secret)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port, &mut child);
    let fixture = format!(
        "{}/fixtures/stripe/invoice.payment_failed.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let sent = run(&["send-fixture", &fixture, "--tenant", "acme"]);
    assert!(sent.starts_with("201"), "{sent}");
    let again = run(&["send-fixture", &fixture, "--tenant", "acme", "--keep-id"]);
    assert!(
        again.starts_with("201"),
        "a fresh id was used the first time, so the file's id is new: {again}"
    );
    let dup = run(&["send-fixture", &fixture, "--tenant", "acme", "--keep-id"]);
    assert!(
        dup.starts_with("200") && dup.contains("\"duplicate\":true"),
        "{dup}"
    );
    let (code, _) = stop(child);
    assert_eq!(code, 0);
}

#[test]
fn simulate_runs_a_thirty_day_campaign_through_the_test_clock() {
    let scenario = format!(
        "{}/scenarios/insufficient_funds.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new(BIN)
        .args(["simulate", &scenario])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("in_funds · 4900 usd · recovered (our_retry)"),
        "{text}"
    );
    assert!(text.contains("in_expired · 19900 usd · churned"), "{text}");
    assert!(
        text.contains("likely payday"),
        "insufficient funds are retried on paydays: {text}"
    );
}
