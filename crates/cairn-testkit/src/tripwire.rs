//! A loopback port that records whether anything connected: pointing
//! `AWS_ENDPOINT_URL` at it shows whether a command called AWS (validation
//! and state commands must not).

use std::net::TcpListener;

pub struct Tripwire(TcpListener);

impl Tripwire {
    /// Binds a free loopback port.
    pub fn new() -> std::io::Result<Self> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        l.set_nonblocking(true)?;
        Ok(Tripwire(l))
    }

    /// `http://127.0.0.1:PORT`, to use as `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().map(|a| a.to_string()).unwrap_or_default())
    }

    /// Whether anything has connected since the last call.
    pub fn touched(&self) -> bool {
        self.0.accept().is_ok()
    }
}
