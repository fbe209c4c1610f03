//! SUBSCRIBE from a test agent (e.g. to a hint, Event: dialog), with digest authentication; the
//! NOTIFYs that follow are collected by the agent (`Agent::notifies`).
use std::time::Duration;

use super::sip::{Agent, SipMessage};

/// What a dialog-info NOTIFY says about the watched extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Idle,
    Ringing,
    InUse,
}

impl Agent {
    /// Subscribes to `event` of `target` (a user at Asterisk) for `expires` seconds; returns the
    /// final response.
    pub fn subscribe(&mut self, target: &str, event: &str, accept: &str, expires: u32) -> Option<SipMessage> {
        let uri = format!("sip:{target}@{}", self.domain);
        let call_id = super::sip::unique("sub");
        let tag = super::sip::unique("t");
        let message = |cseq: u32, auth: Option<&(String, String)>| {
            let mut text = format!(
                "SUBSCRIBE {uri} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: <sip:{}@{}>;tag={tag}\r\nTo: <{uri}>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <{}>\r\nEvent: {event}\r\nAccept: {accept}\r\n\
                 Expires: {expires}\r\nUser-Agent: {}\r\n",
                self.via(&super::sip::unique("z9hG4bK")),
                self.user,
                self.domain,
                self.contact_uri(),
                self.user_agent
            );
            if let Some((name, value)) = auth {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str("Content-Length: 0\r\n\r\n");
            text
        };
        self.send_raw(&message(1, None));
        let response = self.wait_response(&call_id, 1, Duration::from_secs(5))?;
        if response.status() != 401 && response.status() != 407 {
            return Some(response);
        }
        let auth = self.authorization(&response, "SUBSCRIBE", &uri)?;
        self.send_raw(&message(2, Some(&auth)));
        self.wait_response(&call_id, 2, Duration::from_secs(5))
    }

    /// The states the dialog-info NOTIFYs received so far reported, in order, repeats folded.
    pub fn dialog_states(&self) -> Vec<DialogState> {
        let mut states: Vec<DialogState> = Vec::new();
        for notify in self.notifies() {
            let body = notify.body();
            if !body.contains("dialog-info") {
                continue;
            }
            let state = if body.contains(">early<") {
                DialogState::Ringing
            } else if body.contains(">confirmed<") {
                DialogState::InUse
            } else {
                DialogState::Idle
            };
            if states.last() != Some(&state) {
                states.push(state);
            }
        }
        states
    }
}
