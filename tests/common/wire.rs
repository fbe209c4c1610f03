//! SIP transports for the test agent: UDP, TCP and WebSocket, each behind one send/receive API.
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Ws,
}

impl Transport {
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Ws => "WS",
        }
    }
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Ws => "ws",
        }
    }
}

pub enum Wire {
    Udp { socket: UdpSocket, server: SocketAddr },
    Tcp { stream: TcpStream, buffer: Vec<u8> },
    Ws { socket: Box<WebSocket<TcpStream>> },
}

const POLL: Duration = Duration::from_millis(20);

impl Wire {
    /// Connects from `local_ip` to the server (SIP port for UDP/TCP, HTTP port for WS).
    pub fn connect(transport: Transport, local_ip: &str, server: SocketAddr) -> std::io::Result<(Wire, SocketAddr)> {
        match transport {
            Transport::Udp => {
                let socket = UdpSocket::bind((local_ip, 0))?;
                socket.set_read_timeout(Some(POLL))?;
                let local = socket.local_addr()?;
                Ok((Wire::Udp { socket, server }, local))
            }
            Transport::Tcp | Transport::Ws => {
                let socket = socket2_bind_connect(local_ip, server)?;
                let local = socket.local_addr()?;
                if transport == Transport::Tcp {
                    socket.set_read_timeout(Some(POLL))?;
                    return Ok((Wire::Tcp { stream: socket, buffer: Vec::new() }, local));
                }
                let mut request = format!("ws://{server}/ws").into_client_request().map_err(io_error)?;
                request.headers_mut().insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
                let (socket, _response) = tungstenite::client(request, socket).map_err(io_error)?;
                socket.get_ref().set_read_timeout(Some(POLL))?;
                Ok((Wire::Ws { socket: Box::new(socket) }, local))
            }
        }
    }

    pub fn send(&mut self, message: &str) -> std::io::Result<()> {
        match self {
            Wire::Udp { socket, server } => socket.send_to(message.as_bytes(), *server).map(|_| ()),
            Wire::Tcp { stream, .. } => stream.write_all(message.as_bytes()),
            Wire::Ws { socket } => socket.send(Message::text(message)).map_err(io_error),
        }
    }

    /// Returns the next whole SIP message, or None after a short poll interval.
    pub fn receive(&mut self) -> std::io::Result<Option<String>> {
        match self {
            Wire::Udp { socket, .. } => {
                let mut buffer = vec![0u8; 65536];
                match socket.recv_from(&mut buffer) {
                    Ok((size, _)) => Ok(Some(String::from_utf8_lossy(&buffer[..size]).into_owned())),
                    Err(e) if is_timeout(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Wire::Tcp { stream, buffer } => {
                if let Some(message) = take_stream_message(buffer) {
                    return Ok(Some(message));
                }
                let mut chunk = [0u8; 16384];
                match stream.read(&mut chunk) {
                    Ok(0) => Err(std::io::Error::new(ErrorKind::ConnectionAborted, "server closed TCP")),
                    Ok(size) => {
                        buffer.extend_from_slice(&chunk[..size]);
                        Ok(take_stream_message(buffer))
                    }
                    Err(e) if is_timeout(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Wire::Ws { socket } => match socket.read() {
                Ok(Message::Text(text)) => Ok(Some(text.to_string())),
                Ok(Message::Binary(data)) => Ok(Some(String::from_utf8_lossy(&data).into_owned())),
                Ok(_) => Ok(None),
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => Ok(None),
                Err(e) => Err(io_error(e)),
            },
        }
    }
}

fn socket2_bind_connect(local_ip: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    // std has no bind-before-connect; bind via libc-free trick: a TcpStream from a bound socket.
    use std::os::fd::FromRawFd;
    let local: SocketAddr = format!("{local_ip}:0").parse().map_err(io_error)?;
    // SAFETY (test code): plain BSD socket calls on a fresh descriptor owned by the TcpStream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let (addr, len) = sockaddr_v4(local);
        if libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (addr, len) = sockaddr_v4(server);
        if libc::connect(fd, &addr as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

fn sockaddr_v4(address: SocketAddr) -> (libc::sockaddr_in, libc::socklen_t) {
    let SocketAddr::V4(v4) = address else { panic!("IPv4 only in tests") };
    let mut raw: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    raw.sin_family = libc::AF_INET as libc::sa_family_t;
    raw.sin_port = v4.port().to_be();
    raw.sin_addr = libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() };
    (raw, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn io_error(error: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(error.to_string())
}

/// Splits one message off a stream buffer using Content-Length; skips keep-alive CRLFs.
fn take_stream_message(buffer: &mut Vec<u8>) -> Option<String> {
    while buffer.starts_with(b"\r\n") {
        buffer.drain(..2);
    }
    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim().to_ascii_lowercase();
            (name == "content-length" || name == "l").then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    if buffer.len() < end + length {
        return None;
    }
    let message: Vec<u8> = buffer.drain(..end + length).collect();
    Some(String::from_utf8_lossy(&message).into_owned())
}
