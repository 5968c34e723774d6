//! Kept-alive connections to incusd: a forwarded request takes an idle one
//! (ready: its previous response has been read), or opens one. Upgrades
//! always get their own connection, which becomes the tunnel.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::UPGRADE;
use hyper::{Request, Response};

use crate::upstream::{self, Body};

/// At most this many idle connections are kept.
const MAX_IDLE: usize = 64;

pub struct Pool {
    socket: PathBuf,
    idle: Mutex<Vec<SendRequest<Body>>>,
}

impl Pool {
    pub fn new(socket: PathBuf) -> Self {
        Self {
            socket,
            idle: Mutex::default(),
        }
    }

    fn take(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|s| !s.is_closed());
        let ready = idle.iter().position(SendRequest::is_ready)?;
        Some(idle.swap_remove(ready))
    }

    fn give_back(&self, sender: SendRequest<Body>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(sender);
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, String> {
        if req.headers().contains_key(UPGRADE) {
            return upstream::send(&self.socket, req).await;
        }
        let mut req = req;
        if let Some(mut sender) = self.take() {
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    self.give_back(sender);
                    return Ok(resp);
                }
                // Closed meanwhile: the request was not sent, open a new one.
                Err(mut e) => match e.take_message() {
                    Some(back) => req = back,
                    None => return Err(format!("incusd: {}", e.error())),
                },
            }
        }
        let mut sender = upstream::connect(&self.socket).await?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("incusd: {e}"))?;
        self.give_back(sender);
        Ok(resp)
    }
}
