//! Media checks for call tests: counting the RTP packets a socket receives.
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// RTP packets (version 2, at least a 12-byte header) arriving on `socket` within `window`.
pub fn rtp_packets_received(socket: &UdpSocket, window: Duration) -> usize {
    let deadline = Instant::now() + window;
    let mut buffer = [0u8; 2048];
    let mut packets = 0;
    while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
        socket.set_read_timeout(Some(left)).expect("read timeout");
        match socket.recv_from(&mut buffer) {
            Ok((length, _)) if length >= 12 && buffer[0] >> 6 == 2 => packets += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    packets
}
