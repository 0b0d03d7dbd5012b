//! A small real SMTP server for tests: it speaks enough of RFC 5321 for a client (lettre) to deliver
//! over a socket, keeps every message it accepts, and can refuse given recipients, for good (550) or
//! for now (451).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as transmitted (headers and body, dot-unstuffed).
    pub data: String,
}

impl Received {
    /// A header's value (unfolded); `None` when absent.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Recipient → the reply to give to its RCPT (e.g. "550 5.1.1 no such user").
    refuse: HashMap<String, String>,
    /// How long to keep a client waiting for the reply to a message it has fully sent.
    hold: std::time::Duration,
}

/// Stops the server when the last handle is dropped.
struct Guard(tokio::task::JoinHandle<()>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Clone)]
pub struct SmtpServer {
    state: Arc<Mutex<State>>,
    pub port: u16,
    _guard: Arc<Guard>,
}

impl SmtpServer {
    /// # Panics
    /// When no local port can be bound.
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port for the SMTP server");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = session(socket, state).await;
                });
            }
        });
        SmtpServer {
            state,
            port,
            _guard: Arc::new(Guard(task)),
        }
    }

    /// `smtp://127.0.0.1:{port}` (no TLS, no auth) for `DUNNING_EMAIL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .received
            .clone()
    }

    /// Keep each client waiting `hold` for the answer to a message, after the message has been
    /// received (and recorded): the window in which a sender that dies cannot know it was delivered.
    pub fn hold_replies(&self, hold: std::time::Duration) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).hold = hold;
    }

    /// Answer RCPT TO for `address` with `reply` (a full SMTP reply line such as "550 no such user").
    pub fn refuse(&self, address: &str, reply: &str) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refuse
            .insert(address.to_ascii_lowercase(), reply.to_string());
    }
}

fn address(arg: &str) -> String {
    let a = arg.split_once(':').map_or(arg, |(_, a)| a).trim();
    let a = a.split_whitespace().next().unwrap_or("");
    a.trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

async fn session(socket: tokio::net::TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 localhost test SMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let verb = cmd
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8".into(),
            "HELO" => "250 localhost".into(),
            "MAIL" => {
                from = address(&cmd[4..]);
                to.clear();
                "250 OK".into()
            }
            "RCPT" => {
                let rcpt = address(&cmd[4..]);
                let refusal = state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .refuse
                    .get(&rcpt)
                    .cloned();
                match refusal {
                    Some(r) => r,
                    None => {
                        to.push(rcpt);
                        "250 OK".into()
                    }
                }
            }
            "DATA" if to.is_empty() => "554 no valid recipients".into(),
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let hold = {
                    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                    st.received.push(Received {
                        from: from.clone(),
                        to: std::mem::take(&mut to),
                        data,
                    });
                    st.hold
                };
                if !hold.is_zero() {
                    tokio::time::sleep(hold).await;
                }
                "250 OK queued".into()
            }
            "RSET" => {
                from.clear();
                to.clear();
                "250 OK".into()
            }
            "NOOP" => "250 OK".into(),
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 command not implemented".into(),
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}
