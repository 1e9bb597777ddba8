//! Windows time-zone ids (SPEC §5), the names SecureVideo's users carry,
//! mapped to IANA zones by CLDR's windowsZones table as the `localzone`
//! crate ships it.

/// A Windows time-zone id that CLDR maps to an IANA zone, e.g.
/// `Pacific Standard Time` → `America/Los_Angeles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsZone {
    windows_id: String,
    iana: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a Windows time zone id (such as 'Pacific Standard Time')")]
pub struct UnknownWindowsZone(pub String);

impl WindowsZone {
    /// The id as Windows spells it, surrounding spaces ignored. CLDR's
    /// table names each id exactly once with territory `001`, its
    /// world-wide default zone.
    pub fn parse(text: &str) -> Result<Self, UnknownWindowsZone> {
        let windows_id = text.trim();
        localzone::win_zone_to_iana(windows_id, Some("001"))
            .map(|iana| Self {
                windows_id: windows_id.to_owned(),
                iana,
            })
            .ok_or_else(|| UnknownWindowsZone(text.to_owned()))
    }

    pub fn windows_id(&self) -> &str {
        &self.windows_id
    }

    /// The IANA zone the console shows the user's local times in.
    pub fn iana(&self) -> &'static str {
        self.iana
    }

    /// The zone's rules, from the tz database bundled with `jiff`.
    pub fn rules(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(self.iana).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_ids_in_securevideos_recordings() {
        assert_eq!(
            WindowsZone::parse("Pacific Standard Time").unwrap().iana(),
            "America/Los_Angeles"
        );
        assert_eq!(
            WindowsZone::parse(" Hawaiian Standard Time ")
                .unwrap()
                .iana(),
            "Pacific/Honolulu"
        );
        assert_eq!(
            WindowsZone::parse("W. Europe Standard Time")
                .unwrap()
                .iana(),
            "Europe/Berlin"
        );
        assert_eq!(WindowsZone::parse("UTC").unwrap().iana(), "Etc/UTC");
    }

    #[test]
    fn refuses_what_windows_does_not_name() {
        for bad in [
            "",
            "PST",
            "America/Los_Angeles",
            "pacific standard time",
            "Mars",
        ] {
            assert!(WindowsZone::parse(bad).is_err(), "{bad}");
        }
    }
}
