//! One session as the log holds it: its Session line (host and guests), its
//! calls, and the connection events of those calls.

use std::io::{self, Write};

use super::calendar::{MINUTE, SECOND};
use super::names::{host_name, patient_name};
use super::{Meta, Plan, Rng, format_ts};

/// A host: user id, full name, email address.
pub(super) type Host = (i64, String, String);

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Party {
    Host,
    Guest(i64),
    Support(i64),
}

pub(super) struct CallSpan {
    pub(super) call_id: &'static str,
    pub(super) party: Party,
    pub(super) connect: i64,
    pub(super) disconnect: i64,
}

/// How a session went.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Host and one guest; each drops once and rejoins: 4 calls.
    OneGuest,
    /// Host and two guests, one of whom drops and rejoins: 4 calls.
    TwoGuests,
    /// One guest, and a support agent joins for a while: 5 calls (SVCO).
    Support,
    /// The host waited alone: 1 call, never billable.
    NoShow,
}

pub(super) struct Generator<'a> {
    pub(super) plan: &'a Plan,
    pub(super) rng: Rng,
    pub(super) next_id: i64,
    pub(super) support_agent: i64,
    pub(super) meta: Meta,
}

impl Generator<'_> {
    pub(super) fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn user_line(&mut self, company: i64) -> (i64, String, String, String) {
        let user_id = self.id();
        let name = host_name(user_id);
        let email = format!("u{user_id}@clinic{company}.example");
        let line = format!(
            r#"{{"Type":"User","CompanyId":{company},"UserId":{user_id},"FullName":"{name}","EmailAddress":"{email}","TimeZoneWindowsId":"UTC"}}"#
        );
        (user_id, name, email, line)
    }

    /// One session's Session line and its calls, and its billable instant
    /// unless it was a no-show. `start` is the scheduled instant (a quarter
    /// hour).
    pub(super) fn session(
        &mut self,
        company: i64,
        host: &Host,
        start: i64,
        shape: Shape,
        patient_pool: u64,
    ) -> (i64, String, Vec<CallSpan>, Option<i64>) {
        let session_id = self.id();
        let (line, guest_ids) =
            self.session_line(session_id, company, host, start, shape, patient_pool);
        let (calls, billable) = self.calls(start, shape, &guest_ids);
        (session_id, line, calls, billable)
    }

    /// The Session line, with the host's participation and the guests'
    /// (returning patients of the company); and the guests' participation ids.
    fn session_line(
        &mut self,
        session_id: i64,
        company: i64,
        host: &Host,
        start: i64,
        shape: Shape,
        patient_pool: u64,
    ) -> (String, Vec<i64>) {
        let host_participation = self.id();
        debug_assert_eq!(host_participation, self::host_participation(session_id));
        let (host_id, host_name, host_email) = host;
        let mut participants = format!(
            r#"{{"ParticipationId":{host_participation},"SecureVideoUserId":{host_id},"ParticipantFullName":"{host_name}","ParticipantEmailAddress":"{host_email}"}}"#
        );
        let guests = match shape {
            Shape::TwoGuests => 2,
            _ => 1,
        };
        let mut guest_ids = Vec::new();
        let first_patient = self.rng.range(0, patient_pool);
        for g in 0..guests {
            let patient = (first_patient + g * (patient_pool / 2).max(1)) % patient_pool;
            let participation = self.id();
            guest_ids.push(participation);
            participants.push_str(&format!(
                r#",{{"ParticipationId":{participation},"ParticipantFullName":"{}","ParticipantEmailAddress":"p{patient}.c{company}@patients.example","ShouldAutoDeliverCode":"E"}}"#,
                patient_name(patient)
            ));
        }
        let line = format!(
            r#"{{"Type":"Session","CompanyId":{company},"SessionId":{session_id},"UserId":{host_id},"ScheduleTs":"{}","ScheduleType":"Scheduled","Participants":[{participants}]}}"#,
            format_ts(start)
        );
        (line, guest_ids)
    }

    /// The calls of a session scheduled at `start`, and its billable instant
    /// (the first guest's arrival) unless no guest came. Host and guest each
    /// drop once and rejoin, but for a second guest's session, where the
    /// host stays.
    fn calls(
        &mut self,
        start: i64,
        shape: Shape,
        guest_ids: &[i64],
    ) -> (Vec<CallSpan>, Option<i64>) {
        let support_agent = self.support_agent;
        let rng = &mut self.rng;
        let host_in = start + rng.range(0, 7 * 60) as i64 * SECOND - 2 * MINUTE + ms(rng);
        let mut calls = Vec::with_capacity(5);
        if shape == Shape::NoShow {
            calls.push(CallSpan {
                call_id: "h1",
                party: Party::Host,
                connect: host_in,
                disconnect: host_in + rng.range(5, 15) as i64 * MINUTE + ms(rng),
            });
            return (calls, None);
        }
        let guest_in = host_in + rng.range(5, 180) as i64 * SECOND + ms(rng);
        let guest_drop = guest_in + rng.range(6, 20) as i64 * MINUTE + ms(rng);
        let guest_back = guest_drop + rng.range(10, 60) as i64 * SECOND + ms(rng);
        let end = guest_back + rng.range(5, 25) as i64 * MINUTE + ms(rng);
        calls.push(CallSpan {
            call_id: "g1",
            party: Party::Guest(guest_ids[0]),
            connect: guest_in,
            disconnect: guest_drop,
        });
        calls.push(CallSpan {
            call_id: "g2",
            party: Party::Guest(guest_ids[0]),
            connect: guest_back,
            disconnect: end,
        });
        let host_out = end + rng.range(5, 60) as i64 * SECOND + ms(rng);
        let host = HostTimes {
            host_in,
            guest_in,
            host_out,
            end,
        };
        if shape == Shape::TwoGuests {
            second_guest_calls(rng, &host, guest_ids[1], &mut calls);
        } else {
            host_drop_calls(rng, &host, shape, support_agent, &mut calls);
        }
        (calls, Some(guest_in))
    }
}

/// The host's participation in a session: the id given right after the
/// session's own (`Generator::session_line`).
pub(super) fn host_participation(session_id: i64) -> i64 {
    session_id + 1
}

/// A random number of milliseconds, in microseconds.
fn ms(rng: &mut Rng) -> i64 {
    rng.range(0, 1000) as i64 * 1000
}

/// When the host came and left, and when the first guest came and the
/// session ended.
struct HostTimes {
    host_in: i64,
    guest_in: i64,
    host_out: i64,
    end: i64,
}

/// Two guests: the host stays throughout; the second guest joins a little
/// after the first and leaves before the end.
fn second_guest_calls(rng: &mut Rng, t: &HostTimes, second: i64, calls: &mut Vec<CallSpan>) {
    calls.push(CallSpan {
        call_id: "h1",
        party: Party::Host,
        connect: t.host_in,
        disconnect: t.host_out,
    });
    let second_in = t.guest_in + rng.range(1, 5) as i64 * MINUTE + ms(rng);
    calls.push(CallSpan {
        call_id: "g3",
        party: Party::Guest(second),
        connect: second_in,
        disconnect: t.end - rng.range(1, 4) as i64 * MINUTE,
    });
}

/// The host's connection drops once, after the guest arrived; with
/// [`Shape::Support`], a support agent joins for a while after it.
fn host_drop_calls(
    rng: &mut Rng,
    t: &HostTimes,
    shape: Shape,
    support_agent: i64,
    calls: &mut Vec<CallSpan>,
) {
    let host_drop = t.guest_in + rng.range(2, 5) as i64 * MINUTE + ms(rng);
    let host_back = host_drop + rng.range(10, 50) as i64 * SECOND + ms(rng);
    calls.push(CallSpan {
        call_id: "h1",
        party: Party::Host,
        connect: t.host_in,
        disconnect: host_drop,
    });
    calls.push(CallSpan {
        call_id: "h2",
        party: Party::Host,
        connect: host_back,
        disconnect: t.host_out,
    });
    if shape == Shape::Support {
        let agent_in = host_back + rng.range(1, 3) as i64 * MINUTE;
        calls.push(CallSpan {
            call_id: "s1",
            party: Party::Support(support_agent),
            connect: agent_in,
            disconnect: agent_in + rng.range(2, 5) as i64 * MINUTE,
        });
    }
}

/// The events of a session's calls in the order they happened.
pub(super) fn events(session_id: i64, calls: &[CallSpan]) -> Vec<(i64, String)> {
    let mut events: Vec<(i64, &'static str, &CallSpan)> = Vec::with_capacity(calls.len() * 2);
    for call in calls {
        events.push((call.connect, "Connect", call));
        events.push((call.disconnect, "Disconnect", call));
    }
    events.sort_by_key(|(ts, kind, _)| (*ts, *kind == "Connect"));
    events
        .into_iter()
        .enumerate()
        .map(|(n, (ts, kind, call))| {
            let party = match call.party {
                Party::Host => r#""Party":"Host""#.to_owned(),
                Party::Guest(id) => format!(r#""Party":"Participant","ParticipationId":{id}"#),
                Party::Support(id) => format!(r#""Party":"Support","SupportAgentId":{id}"#),
            };
            let body = format!(
                r#""Type":"{kind}","EventId":"s{session_id}-{n}","SessionId":{session_id},{party},"CallId":"{}","Ts":"{}""#,
                call.call_id,
                format_ts(ts)
            );
            (ts, body)
        })
        .collect()
}

/// A past session as the log holds it: created, its calls' events in one
/// batch, and its automatic deactivation a day after it ended (SPEC §3.2),
/// so a server started on the dataset finds nothing left to deactivate.
pub(super) fn write_session(
    w: &mut dyn Write,
    session_id: i64,
    line: &str,
    calls: &[CallSpan],
) -> io::Result<()> {
    writeln!(w, "{line}")?;
    for (_, event) in events(session_id, calls) {
        writeln!(w, "{{{event},\"Batch\":{session_id}}}")?;
    }
    let ended = calls.iter().map(|call| call.disconnect).max().unwrap_or(0);
    writeln!(
        w,
        r#"{{"Type":"Deactivate","SessionId":{session_id},"Ts":"{}","Automatic":true}}"#,
        format_ts(ended + 25 * 60 * MINUTE)
    )
}
