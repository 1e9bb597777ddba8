//! The demo tenant of `serve --demo`: a clinic with three hosts and a
//! realistic last month of sessions, created once; each start prints a fresh
//! key for it. Everything goes through `Store::apply` and
//! `Store::apply_events` with the same records the User, Session,
//! Participant and operator APIs write, so the demo is real data.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Duration, OffsetDateTime, Weekday};

use crate::domain::{Month, Timestamp};
use crate::records::{
    ApiKeyRecord, CancelRecord, CompRecord, CompanyRecord, ConnectionEvent, EventKind, LogLine,
    ParticipantRecord, PartyKind, Record, RescheduleRecord, SessionActionRecord, SessionRecord,
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

fn line(record: Record, at: Timestamp) -> LogLine {
    LogLine {
        record,
        recorded_ts: Some(at),
        batch: None,
    }
}

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
    store
        .apply(line(Record::ApiKey(record), Timestamp::now()))
        .await?;
    Ok(DemoAccess {
        company_id,
        company_name: DEMO_COMPANY.to_owned(),
        api_key: key.api_key,
        api_secret: key.api_secret,
        month: month.to_string(),
    })
}

async fn create_demo(store: &Store, month: Month) -> Result<i64, StoreError> {
    let mut rng = StdRng::seed_from_u64(2016);
    let setup_at = month.start().plus_minutes(-7 * 24 * 60);
    let company = CompanyRecord {
        company_id: None,
        name: DEMO_COMPANY.to_owned(),
        included_sessions_per_month: 40,
        overage_price_cents: 1_500,
        duplicate_window_minutes: None,
    };
    let Record::Company(company) = store
        .apply(line(Record::Company(company), setup_at))
        .await?
        .record
    else {
        unreachable!("a company record is applied as one")
    };
    let company_id = company.company_id.expect("assigned");
    let agent = SupportAgentRecord {
        support_agent_id: None,
        full_name: "Marisa Zendejas".to_owned(),
        email_address: "marisa.zendejas@platform-support.example".to_owned(),
    };
    let Record::SupportAgent(agent) = store
        .apply(line(Record::SupportAgent(agent), setup_at))
        .await?
        .record
    else {
        unreachable!("a support agent record is applied as one")
    };
    let agent_id = agent.support_agent_id.expect("assigned");
    let mut host_ids = Vec::new();
    for (name, email) in HOSTS {
        let user = UserRecord {
            company_id,
            user_id: None,
            full_name: name.to_owned(),
            email_address: email.to_owned(),
            sms_number: String::new(),
            default_resolution: String::new(),
            time_zone_windows_id: "Pacific Standard Time".to_owned(),
            help_number: String::new(),
            external_id: String::new(),
        };
        let Record::User(user) = store
            .apply(line(Record::User(user), setup_at))
            .await?
            .record
        else {
            unreachable!("a user record is applied as one")
        };
        host_ids.push(user.user_id.expect("assigned"));
    }

    let mut day = month.first_day();
    let mut event_number = 0u64;
    let mut support_done = false;
    while day < month.end().to_offset_date_time().date() {
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            for &host_id in &host_ids {
                for _ in 0..rng.random_range(0..=3) {
                    let hour = rng.random_range(9..17);
                    let quarter = rng.random_range(0..4) * 15;
                    let start = Timestamp::start_of(day).plus_minutes(hour * 60 + quarter);
                    let (patient, mut email) = PATIENTS[rng.random_range(0..PATIENTS.len())];
                    // The seed's case: Alex Alexis changes his address mid-month.
                    if patient == "Alex Alexis" && day.day() > 15 {
                        email = "aa@changed.com";
                    }
                    // Some sessions were first booked an hour earlier.
                    let rescheduled = rng.random_range(0..12) == 0;
                    let booked = if rescheduled {
                        start.plus_minutes(-60)
                    } else {
                        start
                    };
                    let session = SessionRecord {
                        company_id,
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
                    let Record::Session(session) = store
                        .apply(line(Record::Session(session), created_at))
                        .await?
                        .record
                    else {
                        unreachable!("a session record is applied as one")
                    };
                    let session_id = session.session_id.expect("assigned");
                    let guest = session.participants[1].participation_id.expect("assigned");
                    let changed_at = created_at.plus_minutes(24 * 60);
                    if rescheduled {
                        let record = RescheduleRecord {
                            company_id,
                            session_id,
                            schedule_ts: start,
                        };
                        store
                            .apply(line(Record::Reschedule(record), changed_at))
                            .await?;
                    } else if rng.random_range(0..20) == 0 {
                        let record = CancelRecord {
                            company_id,
                            session_id,
                        };
                        store
                            .apply(line(Record::Cancel(record), changed_at))
                            .await?;
                        continue;
                    }

                    let mut next_event =
                        |kind, party, participation_id, support_agent_id, call: &str, ts| {
                            event_number += 1;
                            let event = ConnectionEvent {
                                event_id: format!("demo-{event_number}"),
                                session_id,
                                party,
                                participation_id,
                                support_agent_id,
                                call_id: call.to_owned(),
                                ts,
                            };
                            (kind, event)
                        };
                    let host_in = start.plus_minutes(-rng.random_range(0..5));
                    let seconds = |ts: Timestamp, s: i64| {
                        Timestamp::from_micros(ts.as_micros() + s * 1_000_000)
                    };
                    let mut events = vec![next_event(
                        EventKind::Connect,
                        PartyKind::Host,
                        None,
                        None,
                        "h1",
                        host_in,
                    )];
                    let no_show = rng.random_range(0..10) == 0;
                    let length = rng.random_range(12..50);
                    let host_out = seconds(host_in, (length + 6) * 60 + rng.random_range(0..60));
                    if !no_show {
                        let guest_in = seconds(host_in, rng.random_range(30..400));
                        let guest_out = seconds(guest_in, length * 60 + rng.random_range(0..60));
                        events.push(next_event(
                            EventKind::Connect,
                            PartyKind::Participant,
                            Some(guest),
                            None,
                            "p1",
                            guest_in,
                        ));
                        events.push(next_event(
                            EventKind::Disconnect,
                            PartyKind::Participant,
                            Some(guest),
                            None,
                            "p1",
                            guest_out,
                        ));
                        if !support_done && day.day() > 10 {
                            support_done = true;
                            let agent_in = seconds(guest_in, 120);
                            events.push(next_event(
                                EventKind::Connect,
                                PartyKind::Support,
                                None,
                                Some(agent_id),
                                "s1",
                                agent_in,
                            ));
                            events.push(next_event(
                                EventKind::Disconnect,
                                PartyKind::Support,
                                None,
                                Some(agent_id),
                                "s1",
                                seconds(agent_in, 600),
                            ));
                        }
                    }
                    events.push(next_event(
                        EventKind::Disconnect,
                        PartyKind::Host,
                        None,
                        None,
                        "h1",
                        host_out,
                    ));
                    store.apply_events(events, host_out).await?;
                    let ended = host_out.plus_minutes(24 * 60);
                    let deactivate = SessionActionRecord {
                        session_id,
                        ts: Some(ended),
                        automatic: true,
                    };
                    store
                        .apply(line(Record::Deactivate(deactivate), ended))
                        .await?;
                    if !no_show && rng.random_range(0..25) == 0 {
                        let comp = CompRecord {
                            session_id,
                            reason: "Connection trouble on the clinic's side".to_owned(),
                            ts: Some(ended),
                        };
                        store.apply(line(Record::Comp(comp), ended)).await?;
                    }
                }
            }
        }
        day += Duration::days(1);
    }
    Ok(company_id)
}
