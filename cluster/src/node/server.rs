//! The node's socket shell: accept backends on a Unix socket and serve each
//! connection's frames in order with [`Service::handle`].
//!
//! One task per connection. A request that touches storage runs inside
//! `block_in_place`, so an fsync on commit occupies a runtime thread
//! without stalling the other connections' tasks. A malformed frame closes
//! that connection (its staged writes are dropped); it never stops the node.

use std::path::Path;
use std::sync::Arc;

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use super::service::{Connection, Service};
use super::NodeError;
use crate::protocol::{encode_frame, frame_len, Request};
use lyra_engine::storage::Engine;

/// Binds `path`, replacing a socket file left behind by a previous run.
pub async fn bind(path: &Path) -> Result<UnixListener, NodeError> {
    let listen_err = |source| NodeError::Listen { path: path.display().to_string(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(listen_err)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(listen_err(e)),
    }
    UnixListener::bind(path).map_err(listen_err)
}

/// Accepts connections until `stop` turns true.
pub async fn serve<E: Engine>(listener: UnixListener, service: Arc<Service<E>>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let service = Arc::clone(&service);
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_connection(stream, service, stop).await {
                            tracing::debug!(error = %e, "backend connection closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn serve_connection<E: Engine>(
    mut stream: UnixStream,
    service: Arc<Service<E>>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut conn = Connection::default();
    let mut payload = Vec::new();
    let mut out = Vec::new();
    loop {
        let mut header = [0u8; 4];
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            read = stream.read_exact(&mut header) => { read?; }
        }
        let len = frame_len(header).map_err(invalid_data)?;
        payload.resize(len, 0);
        stream.read_exact(&mut payload).await?;
        let request = Request::decode(&payload[..]).map_err(|e| invalid_data(e.to_string()))?;
        let response = tokio::task::block_in_place(|| service.handle(&mut conn, request));
        out.clear();
        encode_frame(&response, &mut out);
        stream.write_all(&out).await?;
        if payload.capacity() > 4 << 20 {
            payload = Vec::new(); // do not keep one huge frame's buffer for the connection's life
        }
    }
}

fn invalid_data(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}
