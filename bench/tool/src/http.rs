//! A minimal HTTP/1.1 client over one kept-alive connection: enough for the
//! benchmark's posts and streamed reads (Content-Length or chunked bodies).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Client {
    address: String,
    stream: Option<BufReader<TcpStream>>,
}

/// Standard base64, for HTTP Basic credentials.
pub fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn basic(key: &str, secret: &str) -> String {
    format!("Basic {}", base64(format!("{key}:{secret}").as_bytes()))
}

impl Client {
    pub fn new(address: &str) -> Self {
        Self {
            address: address.to_owned(),
            stream: None,
        }
    }

    fn connection(&mut self) -> io::Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.stream = Some(BufReader::with_capacity(256 * 1024, stream));
        }
        Ok(self.stream.as_mut().expect("connected"))
    }

    /// Sends a request and reads the whole answer; the body is handed to
    /// `sink` piece by piece (and kept only when `keep` is set).
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep: bool,
        sink: &mut dyn FnMut(&[u8]),
    ) -> io::Result<Response> {
        let result = self.exchange(method, path, headers, body, keep, sink);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep: bool,
        sink: &mut dyn FnMut(&[u8]),
    ) -> io::Result<Response> {
        let address = self.address.clone();
        let conn = self.connection()?;
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let stream = conn.get_mut();
        stream.write_all(request.as_bytes())?;
        stream.write_all(body)?;

        let mut response = read_head(conn)?;
        let mut deliver = |bytes: &[u8], response: &mut Response| {
            sink(bytes);
            if keep {
                response.body.extend_from_slice(bytes);
            }
        };
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked {
            read_chunked(conn, &mut response, &mut deliver)?;
        } else {
            let length: usize = response
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut buffer = vec![0u8; 64 * 1024];
            read_exactly(conn, length, &mut buffer, &mut response, &mut deliver)?;
        }
        if response
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            self.stream = None;
        }
        Ok(response)
    }

    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
        self.send("GET", path, headers, &[], true, &mut |_| {})
    }

    pub fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        self.send("POST", path, headers, body, true, &mut |_| {})
    }
}

/// Hands each piece of a body to the caller (and to the response's body).
type Deliver<'a> = dyn FnMut(&[u8], &mut Response) + 'a;

/// The status line and the headers.
fn read_head(conn: &mut BufReader<TcpStream>) -> io::Result<Response> {
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut response = Response {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    };
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            response
                .headers
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Ok(response)
}

/// A chunked body, up to and including its trailers.
fn read_chunked(
    conn: &mut BufReader<TcpStream>,
    response: &mut Response,
    deliver: &mut Deliver<'_>,
) -> io::Result<()> {
    let mut line = String::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                if line.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        read_exactly(conn, size, &mut buffer, response, deliver)?;
        line.clear();
        conn.read_line(&mut line)?;
    }
}

/// `length` bytes of the body, delivered a buffer at a time.
fn read_exactly(
    conn: &mut BufReader<TcpStream>,
    length: usize,
    buffer: &mut [u8],
    response: &mut Response,
    deliver: &mut Deliver<'_>,
) -> io::Result<()> {
    let mut left = length;
    while left > 0 {
        let n = left.min(buffer.len());
        conn.read_exact(&mut buffer[..n])?;
        deliver(&buffer[..n], response);
        left -= n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_examples() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(input.as_bytes()), output);
        }
    }
}
