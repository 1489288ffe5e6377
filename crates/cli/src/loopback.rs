//! The loopback listener the browser is redirected to: one GET, answered by hand in HTTP/1.1.
//!
//! The listener binds before the authorization URL is shown, so the redirect cannot arrive before it
//! listens (RFC 8252 section 7.3). Every connection is read in its own task with a time limit, so a
//! browser's idle speculative connection cannot hold up the real request. Requests for other paths
//! (a favicon) get a 404 and the wait goes on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use url::Url;

use crate::error::{CliError, Result};
use crate::log::debug;

/// The longest request head read; a browser's GET is far smaller.
const MAX_HEAD: usize = 16 * 1024;
/// How long one connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener on the redirect URI's host and port.
pub struct Listener {
    receiver: mpsc::Receiver<(TcpStream, String)>,
    task: tokio::task::JoinHandle<()>,
}

/// The browser's request for the redirect URI, waiting for its answer.
pub struct Callback {
    stream: TcpStream,
    /// The full callback URL, with the code: secret, never to be printed.
    pub url: String,
}

impl Listener {
    /// Binds to `redirect_uri`'s loopback host and port and starts accepting.
    pub async fn bind(redirect_uri: &Url) -> Result<Self> {
        let ip = match redirect_uri.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            // `localhost`: the IPv4 loopback, which every browser tries.
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let port = redirect_uri.port_or_known_default().unwrap_or(80);
        let address = SocketAddr::new(ip, port);
        let listener = TcpListener::bind(address).await.map_err(|error| {
            CliError::config(format!(
                "cannot listen on {address} for the redirect URI {redirect_uri} ({error}); free the port or pick \
                 another with --redirect-port (and register the new redirect URI in Zoho's API console)"
            ))
        })?;
        debug!("listening on {address}");
        let path = redirect_uri.path().to_owned();
        let (sender, receiver) = mpsc::channel(1);
        let task = tokio::spawn(accept(listener, path, sender));
        Ok(Self { receiver, task })
    }

    /// The next request for the redirect path, or `None` if the listener stopped.
    pub async fn next(&mut self) -> Option<Callback> {
        self.receiver.recv().await.map(|(stream, url)| Callback { stream, url })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, path: String, sender: mpsc::Sender<(TcpStream, String)>) {
    let origin = listener.local_addr().map(|a| format!("http://{a}")).unwrap_or_default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: wait a little rather than spin.
                debug!("accepting a connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        debug!("connection from {peer}");
        let (path, origin, sender) = (path.clone(), origin.clone(), sender.clone());
        tokio::spawn(async move {
            if let Err(error) = handle(stream, &path, &origin, sender).await {
                debug!("a connection to the listener failed: {error}");
            }
        });
    }
}

async fn handle(
    mut stream: TcpStream,
    path: &str,
    origin: &str,
    sender: mpsc::Sender<(TcpStream, String)>,
) -> std::io::Result<()> {
    let head = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request in time"))??;
    let Some((method, target)) = request_line(&head) else {
        return respond(&mut stream, 400, "Bad request", "This is not a request this listener understands.").await;
    };
    let request_path = target.split('?').next().unwrap_or_default();
    // Only the path is logged: the query holds the code.
    debug!("{method} {request_path}");
    if request_path != path {
        return respond(&mut stream, 404, "Not found", "Nothing here.").await;
    }
    if method != "GET" {
        return respond(&mut stream, 405, "Method not allowed", "Only GET is answered here.").await;
    }
    let url = format!("{origin}{target}");
    // The receiver is gone once one callback was taken; a late request gets a plain answer.
    if let Err(mpsc::error::SendError((mut stream, _))) = sender.send((stream, url)).await {
        respond(&mut stream, 409, "Already done", "This login has already finished; you can close this window.")
            .await?;
    }
    Ok(())
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 2048];
    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Ok(head);
        }
        head.extend_from_slice(&buffer[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "request head too large"));
        }
    }
}

/// The method and target of an HTTP/1.x request line.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && version.starts_with("HTTP/1.") && target.starts_with('/')).then_some((method, target))
}

impl Callback {
    /// Answers the browser with a small page and closes the connection.
    pub async fn answer(mut self, ok: bool, detail: &str) {
        let (status, title) =
            if ok { (200, "Zoho authorization complete") } else { (400, "Zoho authorization failed") };
        let text = if ok {
            "You can close this window and go back to the terminal.".to_owned()
        } else {
            format!("{detail} You can close this window; the terminal says what to do next.")
        };
        if let Err(error) = respond(&mut self.stream, status, title, &text).await {
            debug!("could not answer the browser: {error}");
        }
    }
}

async fn respond(stream: &mut TcpStream, status: u16, title: &str, text: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Conflict",
    };
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family: sans-serif; margin: 3em\"><h1>{title}</h1><p>{text}</p></body></html>\n",
        title = escape(title),
        text = escape(text),
    );
    // No referrer and no caching: the page's URL holds the code.
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            request_line(b"GET /callback?code=x HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(("GET", "/callback?code=x"))
        );
        assert_eq!(request_line(b"GET / HTTP/1.0\n\n"), Some(("GET", "/")));
        assert_eq!(request_line(b"GET http://evil/ HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_line(b"GET /a b HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_line(b"\xff\xfe"), None);
        assert_eq!(request_line(b""), None);
    }

    #[test]
    fn pages_are_escaped() {
        assert_eq!(escape("<b>\"x\" & y</b>"), "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;");
    }
}
