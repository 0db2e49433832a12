//! A TCP relay between Folio and its database that a test can cut: a
//! network outage on the machine itself (two hosts' link going down),
//! without touching the database server other tests share.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Relays 127.0.0.1:`port` to a target address until dropped.
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Starts relaying to `target` (host:port).
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let target = target.to_string();
        let (u, s, l) = (up.clone(), stalled.clone(), links.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                // While the link is down, a new connection is closed at once.
                if !u.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                {
                    let mut links = l.lock().unwrap();
                    links.push(client.try_clone().unwrap());
                    links.push(server.try_clone().unwrap());
                }
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    s.clone(),
                );
                pump(server, client, s.clone());
            }
        });
        Proxy {
            port,
            up,
            stalled,
            links,
        }
    }

    /// The link goes down for `hold`: bytes stop flowing (a query sent
    /// now gets no answer), then every open connection is reset and new
    /// ones are refused; after `hold` the link is back.
    pub fn outage(&self, hold: Duration) {
        self.stalled.store(true, Ordering::SeqCst);
        self.up.store(false, Ordering::SeqCst);
        std::thread::sleep(hold / 2);
        for s in self.links.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        std::thread::sleep(hold / 2);
        self.stalled.store(false, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.links.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` on a thread of its own, holding bytes back
/// while `stalled`.
fn pump(mut from: TcpStream, mut to: TcpStream, stalled: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            while stalled.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}
