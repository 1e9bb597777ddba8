//! The demo tenant of `serve --demo`: a clinic with three hosts and a
//! realistic last month of sessions, created once; each start prints a fresh
//! key for it. Everything goes through `Store::write_at` and
//! `Store::apply_events` with the same records the User, Session,
//! Participant and operator APIs write, so the demo is real data.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Duration, OffsetDateTime, Weekday};

use crate::domain::{EventBatch, Month, Timestamp};
use crate::records::{
    ApiKeyRecord, CancelRecord, CompRecord, CompanyRecord, ConnectionEvent, EventKind,
    ParticipantRecord, PartyKind, RescheduleRecord, SessionActionRecord, SessionRecord,
    SupportAgentRecord, UserRecord,
};
use crate::secrets::new_key;
use crate::store::{Store, StoreError};

pub const DEMO_COMPANY: &str = "Demo Clinic";

pub struct DemoAccess {
    pub company_id: i64,
    pub company_name: String,
    pub api_key: String,
    pub api_secret: String,
    /// The month that holds the demo sessions, as `yyyy-mm-01`.
    pub month: String,
}

const HOSTS: [(&str, &str); 3] = [
    ("Aaron Johnson", "aaron.johnson@demo-clinic.example"),
    ("Jonathan Vernon", "jonathan.vernon@demo-clinic.example"),
    ("Priya Raman", "priya.raman@demo-clinic.example"),
];

const PATIENTS: [(&str, &str); 12] = [
    ("Trevor Stamp", "trevor.stamp@patients.example"),
    ("Dewey Gladstone", "dewey.gladstone@patients.example"),
    ("Xiao Chu", "xiao.chu@patients.example"),
    ("Alex Alexis", "aa@example.com"),
    ("Maria Lopez", "maria.lopez@patients.example"),
    ("Samuel Okafor", "samuel.okafor@patients.example"),
    ("Hannah Berg", "hannah.berg@patients.example"),
    ("Yusuf Demir", "yusuf.demir@patients.example"),
    ("Grace Kim", "grace.kim@patients.example"),
    ("Liam Walsh", "liam.walsh@patients.example"),
    ("Nora Haddad", "nora.haddad@patients.example"),
    ("Ivan Petrov", "ivan.petrov@patients.example"),
];

/// The last complete UTC month before now.
fn last_month() -> Month {
    let first_of_this = Month::containing(OffsetDateTime::now_utc().date()).first_day();
    Month::containing(
        first_of_this
            .previous_day()
            .expect("not the first day of all time"),
    )
}

pub async fn ensure_demo(store: &Store) -> Result<DemoAccess, StoreError> {
    let month = last_month();
    let company_id = match store.company_named(DEMO_COMPANY).await? {
        Some(company) => company.company_id,
        None => create_demo(store, month).await?,
    };
    let key = new_key(company_id);
    let record = ApiKeyRecord {
        company_id,
        api_key: key.api_key.clone(),
        secret_hash: key.secret_hash,
    };
    store.write().create_api_key(record).await?;
    Ok(DemoAccess {
        company_id,
        company_name: DEMO_COMPANY.to_owned(),
        api_key: key.api_key,
        api_secret: key.api_secret,
        month: month.to_string(),
    })
}

async fn create_demo(store: &Store, month: Month) -> Result<i64, StoreError> {
    let mut demo = DemoMonth::set_up(store, month).await?;
    let mut day = month.first_day();
    while day < month.end().to_offset_date_time().date() {
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            for host_id in demo.host_ids.clone() {
                for _ in 0..demo.rng.random_range(0..=3) {
                    demo.hold_session(day, host_id).await?;
                }
            }
        }
        day += Duration::days(1);
    }
    Ok(demo.company_id)
}

/// The demo company as it is being filled, with the random choices that
/// make its month (seeded: every demo month looks alike).
struct DemoMonth<'a> {
    store: &'a Store,
    rng: StdRng,
    company_id: i64,
    agent_id: i64,
    host_ids: Vec<i64>,
    event_number: u64,
    support_done: bool,
}

/// A booked session: its id, its guest's participation, and when it starts.
struct Booked {
    session_id: i64,
    guest: i64,
    start: Timestamp,
}

impl<'a> DemoMonth<'a> {
    /// The company, its support agent and its hosts, a week before the month.
    async fn set_up(store: &'a Store, month: Month) -> Result<Self, StoreError> {
        let setup = store.write_at(month.start().plus_minutes(-7 * 24 * 60));
        let company = CompanyRecord {
            company_id: None,
            name: DEMO_COMPANY.to_owned(),
            included_sessions_per_month: 40,
            overage_price_cents: 1_500,
            duplicate_window_minutes: None,
        };
        let (company_id, _) = setup.create_company(company).await?;
        let agent = SupportAgentRecord {
            support_agent_id: None,
            full_name: "Marisa Zendejas".to_owned(),
            email_address: "marisa.zendejas@platform-support.example".to_owned(),
        };
        let (agent_id, _) = setup.create_support_agent(agent).await?;
        let mut host_ids = Vec::new();
        for (index, (name, email)) in HOSTS.into_iter().enumerate() {
            // The first host is also the clinic's account administrator.
            let roles = if index == 0 { "H,P,A" } else { "H,P" };
            let user = UserRecord {
                company_id,
                user_id: None,
                full_name: name.to_owned(),
                email_address: email.to_owned(),
                sms_number: String::new(),
                default_resolution: "high".to_owned(),
                time_zone_windows_id: "Pacific Standard Time".to_owned(),
                help_number: String::new(),
                external_id: String::new(),
                video_id: None,
                system_roles: Some(roles.to_owned()),
            };
            host_ids.push(setup.create_user(user).await?);
        }
        Ok(Self {
            store,
            rng: StdRng::seed_from_u64(2016),
            company_id,
            agent_id,
            host_ids,
            event_number: 0,
            support_done: false,
        })
    }

    /// Books one session of the host on that day and, unless it was
    /// cancelled, holds it, ends it and sometimes comps it.
    async fn hold_session(&mut self, day: time::Date, host_id: i64) -> Result<(), StoreError> {
        let Some(booked) = self.book(day, host_id).await? else {
            return Ok(());
        };
        let host_in = booked.start.plus_minutes(-self.rng.random_range(0..5));
        let no_show = self.rng.random_range(0..10) == 0;
        let length = self.rng.random_range(12..50);
        let host_out = seconds(host_in, (length + 6) * 60 + self.rng.random_range(0..60));
        let mut events =
            vec![self.event(&booked, EventKind::Connect, PartyKind::Host, "h1", host_in)];
        if !no_show {
            self.guest_and_agent_calls(&booked, day, host_in, length, &mut events);
        }
        events.push(self.event(
            &booked,
            EventKind::Disconnect,
            PartyKind::Host,
            "h1",
            host_out,
        ));
        self.store
            .apply_events(EventBatch::parse(events)?, host_out)
            .await?;
        let ended = host_out.plus_minutes(24 * 60);
        let end = self.store.write_at(ended);
        let deactivate = SessionActionRecord {
            session_id: booked.session_id,
            ts: Some(ended),
            automatic: true,
            reason: None,
        };
        end.deactivate(deactivate).await?;
        if !no_show && self.rng.random_range(0..25) == 0 {
            let comp = CompRecord {
                session_id: booked.session_id,
                reason: "Connection trouble on the clinic's side".to_owned(),
                ts: Some(ended),
            };
            end.comp(comp).await?;
        }
        Ok(())
    }

    /// Creates a session three days ahead; some are moved by an hour a day
    /// later, some cancelled (`None`).
    async fn book(&mut self, day: time::Date, host_id: i64) -> Result<Option<Booked>, StoreError> {
        let hour = self.rng.random_range(9..17);
        let quarter = self.rng.random_range(0..4) * 15;
        let start = Timestamp::start_of(day).plus_minutes(hour * 60 + quarter);
        let (patient, mut email) = PATIENTS[self.rng.random_range(0..PATIENTS.len())];
        // The seed's case: Alex Alexis changes his address mid-month.
        if patient == "Alex Alexis" && day.day() > 15 {
            email = "aa@changed.com";
        }
        // Some sessions were first booked an hour earlier.
        let rescheduled = self.rng.random_range(0..12) == 0;
        let booked = if rescheduled {
            start.plus_minutes(-60)
        } else {
            start
        };
        let session = SessionRecord {
            company_id: self.company_id,
            session_id: None,
            user_id: host_id,
            schedule_ts: Some(booked),
            schedule_type: None,
            connect_code: None,
            participants: vec![ParticipantRecord {
                participant_full_name: patient.to_owned(),
                participant_email_address: email.to_owned(),
                should_auto_deliver_code: Some("E".to_owned()),
                ..ParticipantRecord::default()
            }],
        };
        let created_at = start.plus_minutes(-3 * 24 * 60);
        let created = self
            .store
            .write_at(created_at)
            .create_session(session)
            .await?;
        let session_id = created.session_id;
        let changed = self.store.write_at(created_at.plus_minutes(24 * 60));
        if rescheduled {
            let record = RescheduleRecord {
                company_id: self.company_id,
                session_id,
                schedule_ts: start,
            };
            changed.reschedule(record).await?;
        } else if self.rng.random_range(0..20) == 0 {
            let record = CancelRecord {
                company_id: self.company_id,
                session_id,
            };
            changed.cancel(record).await?;
            return Ok(None);
        }
        Ok(Some(Booked {
            session_id,
            guest: created.participation_ids[1],
            start,
        }))
    }

    /// The guest's call and, once in the month, a support agent's.
    fn guest_and_agent_calls(
        &mut self,
        booked: &Booked,
        day: time::Date,
        host_in: Timestamp,
        length: i64,
        events: &mut Vec<(EventKind, ConnectionEvent)>,
    ) {
        let guest_in = seconds(host_in, self.rng.random_range(30..400));
        let guest_out = seconds(guest_in, length * 60 + self.rng.random_range(0..60));
        let guest = PartyKind::Participant;
        events.push(self.event(booked, EventKind::Connect, guest, "p1", guest_in));
        events.push(self.event(booked, EventKind::Disconnect, guest, "p1", guest_out));
        if !self.support_done && day.day() > 10 {
            self.support_done = true;
            let agent_in = seconds(guest_in, 120);
            let agent = PartyKind::Support;
            events.push(self.event(booked, EventKind::Connect, agent, "s1", agent_in));
            let agent_out = seconds(agent_in, 600);
            events.push(self.event(booked, EventKind::Disconnect, agent, "s1", agent_out));
        }
    }

    /// The next connection event of the demo (ids `demo-1`, `demo-2`, …).
    fn event(
        &mut self,
        booked: &Booked,
        kind: EventKind,
        party: PartyKind,
        call: &str,
        ts: Timestamp,
    ) -> (EventKind, ConnectionEvent) {
        self.event_number += 1;
        let event = ConnectionEvent {
            event_id: format!("demo-{}", self.event_number),
            session_id: booked.session_id,
            party,
            participation_id: (party == PartyKind::Participant).then_some(booked.guest),
            support_agent_id: (party == PartyKind::Support).then_some(self.agent_id),
            call_id: call.to_owned(),
            ts,
        };
        (kind, event)
    }
}

fn seconds(ts: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_micros(ts.as_micros() + seconds * 1_000_000)
}

/// A session of the demo's first host starting now, and a LiveKit webhook
/// (its host joining, signed as LiveKit signs it) ready to send to
/// `/providers/livekit` as a `curl` line.
pub async fn livekit_example(
    store: &Store,
    company_id: i64,
    (api_key, api_secret): (&str, &str),
    address: std::net::SocketAddr,
) -> Result<String, StoreError> {
    let host = store
        .users(company_id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound("the demo has no host".into()))?;
    let session = SessionRecord {
        company_id,
        session_id: None,
        user_id: host.user_id,
        schedule_ts: None,
        schedule_type: None,
        connect_code: None,
        participants: vec![ParticipantRecord {
            participant_full_name: "Trevor Stamp".to_owned(),
            participant_email_address: "trevor.stamp@patients.example".to_owned(),
            ..ParticipantRecord::default()
        }],
    };
    let created = store.write().create_session(session).await?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let body = serde_json::json!({
        "event": "participant_joined",
        "room": {"name": format!("session-{}", created.session_id)},
        "participant": {"sid": "PA_demo_host", "identity": format!("p{}", created.participation_ids[0]),
                        "joinedAt": now.to_string()},
        "id": format!("EV_demo_{}", created.session_id),
        "createdAt": now.to_string(),
    })
    .to_string();
    let claims = serde_json::json!({
        "iss": api_key,
        "nbf": now,
        "exp": now + 300,
        "sha256": base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(body.as_bytes())),
        ),
    });
    let signing = |error: jsonwebtoken::errors::Error| {
        StoreError::Invalid(format!("the LiveKit API secret cannot sign: {error}"))
    };
    let key = jsonwebtoken::EncodingKey::from_secret(api_secret.as_bytes()).map_err(signing)?;
    let token =
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).map_err(signing)?;
    Ok(format!(
        "curl -X POST 'http://{address}/providers/livekit' -H 'Content-Type: application/webhook+json' \
         -H 'Authorization: {token}' -d '{body}'"
    ))
}
