//! Names of hosts and patients, unique and never shared between the two.

const FIRST: [&str; 50] = [
    "Aaron", "Abigail", "Adam", "Alice", "Amir", "Ana", "Andre", "Beatriz", "Ben", "Carla", "Chen",
    "Chloe", "Daniel", "Dara", "David", "Elena", "Emil", "Emma", "Farah", "Felix", "Grace", "Hana",
    "Hugo", "Ines", "Isaac", "Jada", "James", "Julia", "Kai", "Kenji", "Laura", "Leo", "Lina",
    "Lucas", "Maya", "Mei", "Nadia", "Noah", "Olga", "Omar", "Priya", "Rafael", "Rosa", "Sam",
    "Sara", "Tariq", "Uma", "Victor", "Yara", "Zoe",
];
const PATIENT_LAST: [&str; 50] = [
    "Abbott",
    "Alvarez",
    "Baker",
    "Banerjee",
    "Brooks",
    "Castillo",
    "Chowdhury",
    "Cohen",
    "Dalton",
    "Diaz",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Flores",
    "Garcia",
    "Grant",
    "Haddad",
    "Hansen",
    "Ibrahim",
    "Ivanova",
    "Jensen",
    "Kaur",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lopez",
    "Mbeki",
    "Moreau",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Petrov",
    "Quinn",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Stamp",
    "Suzuki",
    "Tanaka",
    "Torres",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
];
/// Hosts' family names never meet patients', so an invitation never resolves
/// to a host's person by name.
const HOST_LAST: [&str; 20] = [
    "Ashford",
    "Blackwell",
    "Carrington",
    "Drummond",
    "Ellsworth",
    "Fairbanks",
    "Greenhalgh",
    "Hollister",
    "Ingram",
    "Johansson",
    "Kensington",
    "Lockhart",
    "Montague",
    "Northcott",
    "Oakley",
    "Pemberton",
    "Quimby",
    "Radcliffe",
    "Stanhope",
    "Thornbury",
];

/// A patient's name, unique per index within a company.
pub(super) fn patient_name(index: u64) -> String {
    let per_round = (FIRST.len() * PATIENT_LAST.len()) as u64;
    let first = FIRST[(index % FIRST.len() as u64) as usize];
    let last = PATIENT_LAST[((index / FIRST.len() as u64) % PATIENT_LAST.len() as u64) as usize];
    match index / per_round {
        0 => format!("{first} {last}"),
        round => {
            let mut middle = String::new();
            let mut k = round - 1;
            loop {
                middle.insert(0, (b'A' + (k % 26) as u8) as char);
                if k < 26 {
                    break;
                }
                k = k / 26 - 1;
            }
            format!("{first} {middle}. {last}")
        }
    }
}

pub(super) fn host_name(user_id: i64) -> String {
    let i = user_id as usize;
    format!(
        "{} {}",
        FIRST[i % FIRST.len()],
        HOST_LAST[(i / FIRST.len()) % HOST_LAST.len()]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_names_are_unique() {
        let names: std::collections::HashSet<String> = (0..10_000).map(patient_name).collect();
        assert_eq!(names.len(), 10_000);
    }
}
