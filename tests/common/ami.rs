//! A small AMI client: log in, send actions, collect responses and events.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub type AmiMessage = HashMap<String, String>;

pub struct Ami {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    pending: Vec<AmiMessage>,
    action_id: u32,
    /// A line cut by a read timeout, completed by the next read.
    partial: String,
    /// The message being assembled across read timeouts.
    building: AmiMessage,
}

impl Ami {
    pub fn connect(address: SocketAddr, user: &str, secret: &str) -> Ami {
        let stream = TcpStream::connect(address).expect("connect AMI");
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut ami = Ami {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
            pending: Vec::new(),
            action_id: 0,
            partial: String::new(),
            building: AmiMessage::new(),
        };
        let mut banner = String::new();
        let _ = ami.reader.read_line(&mut banner);
        let response = ami.action("Login", &[("Username", user), ("Secret", secret), ("Events", "on")]);
        assert_eq!(response.get("Response").map(String::as_str), Some("Success"), "AMI login: {response:?}");
        ami
    }

    fn read_message(&mut self, deadline: Instant) -> Option<AmiMessage> {
        loop {
            match self.reader.read_line(&mut self.partial) {
                Ok(0) => return None,
                Ok(_) => {
                    let line = std::mem::take(&mut self.partial);
                    let line = line.trim_end();
                    let message = &mut self.building;
                    if line.is_empty() {
                        if !message.is_empty() {
                            return Some(std::mem::take(message));
                        }
                        continue;
                    }
                    if let Some((key, value)) = line.split_once(':') {
                        let key = key.trim().to_string();
                        let value = value.trim().to_string();
                        // Repeated keys (Output:) are joined with newlines.
                        message
                            .entry(key)
                            .and_modify(|v| {
                                v.push('\n');
                                v.push_str(&value)
                            })
                            .or_insert(value);
                    }
                }
                Err(_) => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
            }
        }
    }

    /// Sends an action and returns its response; events read meanwhile are kept for wait_event.
    pub fn action(&mut self, name: &str, fields: &[(&str, &str)]) -> AmiMessage {
        self.action_id += 1;
        let id = format!("t{}", self.action_id);
        let mut text = format!("Action: {name}\r\nActionID: {id}\r\n");
        for (key, value) in fields {
            text.push_str(&format!("{key}: {value}\r\n"));
        }
        text.push_str("\r\n");
        self.writer.write_all(text.as_bytes()).expect("AMI write");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(message) = self.read_message(deadline) {
                if message.get("ActionID") == Some(&id) && message.contains_key("Response") {
                    return message;
                }
                self.pending.push(message);
            }
        }
        panic!("no AMI response to {name}");
    }

    /// Sends an action whose result is a list of events ending in `<...>Complete`; returns them.
    pub fn action_list(&mut self, name: &str, fields: &[(&str, &str)]) -> (AmiMessage, Vec<AmiMessage>) {
        let response = self.action(name, fields);
        let id = response.get("ActionID").cloned().unwrap_or_default();
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(index) = self.pending.iter().position(|m| m.get("ActionID") == Some(&id)) {
                let event = self.pending.remove(index);
                let done = event.get("EventList").map(String::as_str) == Some("Complete");
                events.push(event);
                if done {
                    return (response, events);
                }
                continue;
            }
            assert!(Instant::now() < deadline, "AMI list {name} did not complete");
            if let Some(message) = self.read_message(Instant::now() + Duration::from_millis(200)) {
                self.pending.push(message);
            }
        }
    }

    /// Events read but not yet consumed (for failure messages).
    pub fn pending_events(&self) -> Vec<String> {
        self.pending.iter().map(|m| m.get("Event").cloned().unwrap_or_else(|| format!("{m:?}"))).collect()
    }

    /// Waits for an event named `event` whose fields satisfy `matches`.
    pub fn wait_event(&mut self, event: &str, timeout: Duration, matches: impl Fn(&AmiMessage) -> bool) -> Option<AmiMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(index) = self.pending.iter().position(|m| m.get("Event").map(String::as_str) == Some(event) && matches(m))
            {
                return Some(self.pending.remove(index));
            }
            if Instant::now() >= deadline {
                return None;
            }
            if let Some(message) = self.read_message(Instant::now() + Duration::from_millis(200)) {
                self.pending.push(message);
            }
        }
    }
}
