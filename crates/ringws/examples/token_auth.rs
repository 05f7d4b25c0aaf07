//! Token authentication with a deferred upgrade: `on_upgrade_later` hands the token to a tokio
//! task (standing in for a call to an auth service) and returns at once, so the I/O core goes on
//! serving everyone else; the task accepts with the user's name or refuses with 401.
//!
//! `cargo run --release -p ringws --example token_auth -- 127.0.0.1:9004`
//! then `ws://127.0.0.1:9004/chat?token=secret-ann`. Prints `listening on ADDR`.

use ringws::{Accept, App, Handler, Later, Reject, Server, UpgradeRequest, WebSocket};
use std::net::SocketAddr;
use std::time::Duration;

struct Chat {
    auth: tokio::runtime::Handle,
}

/// The "auth service": a token `secret-NAME` belongs to NAME.
async fn check(token: String) -> Option<String> {
    tokio::time::sleep(Duration::from_millis(20)).await; // a network round trip
    token.strip_prefix("secret-").filter(|n| !n.is_empty()).map(str::to_owned)
}

impl Handler for Chat {
    /// The user's name.
    type Data = String;

    fn on_upgrade_later(
        &mut self,
        req: &UpgradeRequest<'_>,
        later: Later<String>,
    ) -> Option<Result<Accept<String>, Reject>> {
        let Some(token) = req.query_param("token").map(|t| t.into_owned()) else {
            return Some(Err(Reject::new(401, "a token is needed")));
        };
        self.auth.spawn(async move {
            // An answer after the client left is refused with NotConnected: nothing to do.
            let _ = match check(token).await {
                Some(user) => later.accept(Accept::new(user)),
                None => {
                    let no =
                        Reject::new(401, "unknown token").with_header("WWW-Authenticate", "Bearer");
                    later.reject(no)
                }
            };
        });
        None
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_, String>) {
        let hello = format!("welcome, {}", ws.data());
        let _ = ws.send_text(&hello);
    }
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9004".into())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (server, _auth) = serve(addr)?;
    println!("listening on {}", server.local_addr());
    server.join()
}

/// Starts the chat route on `addr` with its auth runtime (returned: it runs while kept).
pub(crate) fn serve(addr: SocketAddr) -> std::io::Result<(Server, tokio::runtime::Runtime)> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build()?;
    let auth = runtime.handle().clone();
    let server = App::new().bind(addr).ws("/chat", move || Chat { auth: auth.clone() }).start()?;
    Ok((server, runtime))
}
