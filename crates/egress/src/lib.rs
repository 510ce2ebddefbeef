//! Which addresses an outbound request may reach: the one policy behind webhook delivery and
//! integrations' outbound HTTP, decided here and nowhere else.
//!
//! An address is allowed only if it is public unicast. IPv6 forms that carry an IPv4 address
//! are decoded first and judged by the IPv4 rules, because the packet ends up at that IPv4
//! address: `::ffff:127.0.0.1` is loopback on a dual-stack socket, `64:ff9b::a9fe:a9fe` is the
//! metadata service behind a NAT64 gateway. Then every range of the IANA IPv4 and IPv6
//! special-purpose registries that is not globally reachable is refused, and so is any IPv6
//! address outside global unicast (2000::/3), so that a range IANA has not assigned yet is
//! refused until someone decides otherwise.
//!
//! Pure: no DNS, no sockets. Callers check a URL's host with [`AddressPolicy::check_host`]
//! before any lookup, and every address a lookup returns with [`AddressPolicy::check_address`],
//! then connect only to the addresses that passed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of destination an address is. Everything but [`AddressClass::Public`] is refused;
/// the variant says why, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Globally reachable unicast.
    Public,
    /// 0.0.0.0 and `::`: Linux connects them to the local host.
    Unspecified,
    /// 0.0.0.0/8, "this network" (RFC 791).
    ThisNetwork,
    /// 127.0.0.0/8 and `::1`, and host names under `localhost` (RFC 6761).
    Loopback,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918) and fc00::/7 unique-local.
    Private,
    /// 100.64.0.0/10, carrier-grade NAT (RFC 6598).
    SharedAddressSpace,
    /// 169.254.0.0/16 and fe80::/10: cloud metadata services live at 169.254.169.254.
    LinkLocal,
    /// fec0::/10, deprecated site-local (RFC 3879): still routed inside some networks.
    SiteLocal,
    /// 192.0.0.0/24 and 2001::/23, IETF protocol assignments. The few globally reachable
    /// anycast services in them are no place to send a request.
    ProtocolAssignment,
    /// 192.88.99.0/24, the deprecated 6to4 relay anycast (RFC 7526).
    Relay,
    /// 198.18.0.0/15 and 2001:2::/48, for benchmarking (RFC 2544, RFC 5180).
    Benchmarking,
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 and 3fff::/20.
    Documentation,
    /// 224.0.0.0/4 and ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 240.0.0.0/4, and IPv6 outside global unicast 2000::/3 that no other class names.
    Reserved,
    /// 100::/64, discard-only (RFC 6666).
    Discard,
    /// 5f00::/16, SRv6 segment identifiers (RFC 9602).
    SegmentRouting,
    /// 2001::/32, Teredo (RFC 4380). Refused whatever server and client it encodes: reaching
    /// it means a local Teredo relay sending UDP to the client IPv4 the address chooses, which
    /// may be internal, and no service worth a request listens on one (the public Teredo
    /// servers are gone). Refusing it outright is simpler than decoding two addresses.
    Teredo,
    /// 64:ff9b:1::/48, local-use NAT64 (RFC 8215). Refused whatever it embeds: the operator
    /// chooses the prefix length, so where the IPv4 address sits is not knowable here.
    LocalTranslation,
}

impl AddressClass {
    /// The class of `address`, embedded IPv4 decoded (see [`classify`]).
    pub fn of(address: IpAddr) -> AddressClass {
        classify(address).class
    }

    pub fn is_public(self) -> bool {
        self == AddressClass::Public
    }

    /// Reads after "is": "127.0.0.1 is a loopback address".
    pub fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "a public address",
            AddressClass::Unspecified => "the unspecified address",
            AddressClass::ThisNetwork => "a \"this network\" address (0.0.0.0/8)",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private-network address",
            AddressClass::SharedAddressSpace => {
                "a carrier-grade NAT shared address (100.64.0.0/10)"
            }
            AddressClass::LinkLocal => "a link-local address (where cloud metadata lives)",
            AddressClass::SiteLocal => "a site-local address (fec0::/10)",
            AddressClass::ProtocolAssignment => "reserved for IETF protocol assignments",
            AddressClass::Relay => "the deprecated 6to4 relay anycast (192.88.99.0/24)",
            AddressClass::Benchmarking => "reserved for benchmarking",
            AddressClass::Documentation => "reserved for documentation",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Reserved => "a reserved address",
            AddressClass::Discard => "a discard-only address (100::/64)",
            AddressClass::SegmentRouting => "an SRv6 segment identifier (5f00::/16)",
            AddressClass::Teredo => "a Teredo tunnel address (2001::/32)",
            AddressClass::LocalTranslation => "a local-use NAT64 address (64:ff9b:1::/48)",
        }
    }
}

/// How an IPv6 address carries an IPv4 address that the packet is really headed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Embedding {
    /// ::ffff:0:0/96: a dual-stack socket sends it as IPv4.
    Ipv4Mapped,
    /// ::/96, deprecated (RFC 4291) but still tunnelled by some stacks.
    Ipv4Compatible,
    /// 64:ff9b::/96, the well-known NAT64 prefix (RFC 6052).
    Nat64,
    /// 2002::/16, 6to4 (RFC 3056): the IPv4 address is bits 16..48.
    SixToFour,
}

impl Embedding {
    pub fn describe(self) -> &'static str {
        match self {
            Embedding::Ipv4Mapped => "IPv4-mapped",
            Embedding::Ipv4Compatible => "IPv4-compatible",
            Embedding::Nat64 => "NAT64",
            Embedding::SixToFour => "6to4",
        }
    }
}

/// An IPv4 address found inside an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Embedded {
    pub embedding: Embedding,
    pub ipv4: Ipv4Addr,
}

/// The IPv4 address an IPv6 address stands for, if it has one. `::` and `::1` have none: they
/// are the IPv6 unspecified and loopback addresses, not IPv4-compatible ones.
pub fn embedded_ipv4(address: Ipv6Addr) -> Option<Embedded> {
    let bits = u128::from(address);
    // The last 32 bits; the truncation is the point.
    let low = Ipv4Addr::from(bits as u32);
    let embedding = if bits >> 32 == 0xffff {
        Embedding::Ipv4Mapped
    } else if bits >> 32 == 0 {
        if bits <= 1 {
            return None;
        }
        Embedding::Ipv4Compatible
    } else if bits >> 32 == u128::from(u32::from(NAT64_WELL_KNOWN)) << 64 {
        Embedding::Nat64
    } else if address.segments()[0] == 0x2002 {
        return Some(Embedded {
            embedding: Embedding::SixToFour,
            ipv4: Ipv4Addr::from((bits >> 80) as u32),
        });
    } else {
        return None;
    };
    Some(Embedded {
        embedding,
        ipv4: low,
    })
}

/// The first 32 bits of 64:ff9b::/96, whose next 64 bits are zero.
const NAT64_WELL_KNOWN: Ipv4Addr = Ipv4Addr::new(0x00, 0x64, 0xff, 0x9b);

/// An address with its class, and the IPv4 address that decided it when it was embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    pub address: IpAddr,
    pub class: AddressClass,
    pub embedded: Option<Embedded>,
}

/// Classifies an address: embedded IPv4 first, by the IPv4 rules; then the special-purpose
/// registries.
pub fn classify(address: IpAddr) -> Verdict {
    let (class, embedded) = match address {
        IpAddr::V4(v4) => (classify_ipv4(v4), None),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(embedded) => (classify_ipv4(embedded.ipv4), Some(embedded)),
            None => (classify_ipv6(v6), None),
        },
    };
    Verdict {
        address,
        class,
        embedded,
    }
}

/// Whether `address` is a public unicast destination.
pub fn is_public(address: IpAddr) -> bool {
    classify(address).class.is_public()
}

/// The IPv4 special-purpose registry's ranges that are not globally reachable, plus multicast
/// and 240.0.0.0/4. The first match wins, so a narrower range comes before a wider one.
const IPV4_RANGES: &[(Ipv4Addr, u8, AddressClass)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 32, AddressClass::Unspecified),
    (Ipv4Addr::new(0, 0, 0, 0), 8, AddressClass::ThisNetwork),
    (Ipv4Addr::new(10, 0, 0, 0), 8, AddressClass::Private),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        AddressClass::SharedAddressSpace,
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, AddressClass::Loopback),
    (Ipv4Addr::new(169, 254, 0, 0), 16, AddressClass::LinkLocal),
    (Ipv4Addr::new(172, 16, 0, 0), 12, AddressClass::Private),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        AddressClass::ProtocolAssignment,
    ),
    (Ipv4Addr::new(192, 0, 2, 0), 24, AddressClass::Documentation),
    (Ipv4Addr::new(192, 88, 99, 0), 24, AddressClass::Relay),
    (Ipv4Addr::new(192, 168, 0, 0), 16, AddressClass::Private),
    (Ipv4Addr::new(198, 18, 0, 0), 15, AddressClass::Benchmarking),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        AddressClass::Documentation,
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        AddressClass::Documentation,
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, AddressClass::Multicast),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        AddressClass::Broadcast,
    ),
    (Ipv4Addr::new(240, 0, 0, 0), 4, AddressClass::Reserved),
];

/// The IPv6 special-purpose registry's ranges that are not globally reachable, and the other
/// named ranges outside global unicast, first match wins. The embedding prefixes
/// (::ffff:0:0/96, ::/96, 64:ff9b::/96, 2002::/16) are decoded before this table is read.
const IPV6_RANGES: &[(Ipv6Addr, u8, AddressClass)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, AddressClass::Unspecified),
    (Ipv6Addr::LOCALHOST, 128, AddressClass::Loopback),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        AddressClass::LocalTranslation,
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        AddressClass::Discard,
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        32,
        AddressClass::Teredo,
    ),
    (
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0),
        48,
        AddressClass::Benchmarking,
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        AddressClass::ProtocolAssignment,
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        AddressClass::Documentation,
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        AddressClass::Documentation,
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        AddressClass::SegmentRouting,
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        AddressClass::Private,
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        AddressClass::LinkLocal,
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        AddressClass::SiteLocal,
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        AddressClass::Multicast,
    ),
];

fn classify_ipv4(address: Ipv4Addr) -> AddressClass {
    let bits = u32::from(address);
    IPV4_RANGES
        .iter()
        .find(|(prefix, length, _)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*length)).unwrap_or(0);
            bits & mask == u32::from(*prefix)
        })
        .map_or(AddressClass::Public, |(_, _, class)| *class)
}

fn classify_ipv6(address: Ipv6Addr) -> AddressClass {
    let bits = u128::from(address);
    let named = IPV6_RANGES.iter().find(|(prefix, length, _)| {
        let mask = u128::MAX.checked_shl(128 - u32::from(*length)).unwrap_or(0);
        bits & mask == u128::from(*prefix)
    });
    match named {
        Some((_, _, class)) => *class,
        // Global unicast is 2000::/3; the rest of the space is reserved by the IETF.
        None if bits >> 125 != 0b001 => AddressClass::Reserved,
        None => AddressClass::Public,
    }
}

/// Why a destination was refused: the crate's one error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{}", describe_refused_address(.0))]
    Address(Verdict),
    /// `localhost` and every name under it mean the local host (RFC 6761), whatever a resolver
    /// says; refusing the name spares a lookup and gives a clearer reason.
    #[error("{host} is a loopback name (localhost and *.localhost)")]
    LocalhostName { host: String },
}

impl Refused {
    /// The class that decided the refusal.
    pub fn class(&self) -> AddressClass {
        match self {
            Refused::Address(verdict) => verdict.class,
            Refused::LocalhostName { .. } => AddressClass::Loopback,
        }
    }
}

fn describe_refused_address(verdict: &Verdict) -> String {
    match verdict.embedded {
        Some(embedded) => format!(
            "{} embeds {} ({}), {}",
            verdict.address,
            embedded.ipv4,
            embedded.embedding.describe(),
            verdict.class.describe()
        ),
        None => format!("{} is {}", verdict.address, verdict.class.describe()),
    }
}

pub type Result<T> = std::result::Result<T, Refused>;

/// The policy one sender applies: public unicast only, unless the operator allowed private
/// networks for development and tests, which lifts every refusal here (approved origins and
/// the like still apply where the caller has them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_private_networks: bool,
}

impl AddressPolicy {
    /// Checks an address a connection would go to.
    pub fn check_address(self, address: IpAddr) -> Result<()> {
        let verdict = classify(address);
        if verdict.class.is_public() || self.allow_private_networks {
            Ok(())
        } else {
            Err(Refused::Address(verdict))
        }
    }

    /// What can be decided from a URL's host alone: an IP literal by its address (the `url`
    /// crate has already turned `2130706433`, `0x7f.1` and `[::127.0.0.1]` into addresses),
    /// and `localhost` names as loopback. Any other name passes here and must be checked on
    /// the addresses DNS returns for it.
    pub fn check_host(self, host: &url::Host<&str>) -> Result<()> {
        match host {
            url::Host::Ipv4(v4) => self.check_address(IpAddr::V4(*v4)),
            url::Host::Ipv6(v6) => self.check_address(IpAddr::V6(*v6)),
            url::Host::Domain(name) if !self.allow_private_networks && is_localhost(name) => {
                Err(Refused::LocalhostName {
                    host: (*name).to_string(),
                })
            }
            url::Host::Domain(_) => Ok(()),
        }
    }
}

/// `localhost`, a name under it, or either with the root's trailing dot, in any case.
fn is_localhost(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}
