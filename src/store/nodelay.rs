//! Works around sqlx 0.9.0 opening PostgreSQL sockets without `TCP_NODELAY` (sqlx#4335, fixed upstream
//! by sqlx#4336, not yet released). Without it, a message larger than one TCP segment (a batch of
//! webhook rows) waits for the server's delayed ACK: ~40 ms stalls. libpq always sets the option.
//!
//! sqlx gives no access to its socket, so after each new connection we set the option on every TCP
//! socket of this process whose peer is the database's port. Setting it twice, or on another socket
//! to that port, is harmless. Remove this module once sqlx ships the fix.

/// Sets `TCP_NODELAY` on this process's TCP sockets connected to `port`. Best effort: errors only
/// cost latency, never correctness.
#[cfg(target_os = "linux")]
pub fn set_on_sockets_to(port: u16) {
    use std::mem::ManuallyDrop;
    use std::net::TcpStream;
    use std::os::fd::FromRawFd;

    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in dir.flatten() {
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // SAFETY: the stream is never dropped, so the descriptor is neither closed nor taken over;
        // only getpeername/setsockopt run on it, which fail harmlessly if it was closed and reused
        // for something else in the meantime.
        let stream = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
        if stream.peer_addr().is_ok_and(|peer| peer.port() == port) {
            let _ = stream.set_nodelay(true);
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn set_on_sockets_to(_port: u16) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn sets_nodelay_only_on_sockets_to_the_port() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let to_a = TcpStream::connect(a.local_addr().unwrap()).unwrap();
        let to_b = TcpStream::connect(b.local_addr().unwrap()).unwrap();
        assert!(!to_a.nodelay().unwrap() && !to_b.nodelay().unwrap());

        set_on_sockets_to(a.local_addr().unwrap().port());

        assert!(to_a.nodelay().unwrap());
        assert!(!to_b.nodelay().unwrap());
    }
}
