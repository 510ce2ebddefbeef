//! Properties of the IPv6 forms that carry an IPv4 address: whatever refused IPv4 address is
//! put in, and wherever the free bits of the form point, the result is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use egress::{AddressClass, classify, is_public};
use proptest::prelude::*;

/// The refused IPv4 ranges, written out from the IANA registry rather than taken from the
/// crate, so that a range dropped from its table fails here.
const REFUSED_IPV4: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8
    (0x0a00_0000, 8),  // 10.0.0.0/8
    (0x6440_0000, 10), // 100.64.0.0/10
    (0x7f00_0000, 8),  // 127.0.0.0/8
    (0xa9fe_0000, 16), // 169.254.0.0/16
    (0xac10_0000, 12), // 172.16.0.0/12
    (0xc000_0000, 24), // 192.0.0.0/24
    (0xc000_0200, 24), // 192.0.2.0/24
    (0xc058_6300, 24), // 192.88.99.0/24
    (0xc0a8_0000, 16), // 192.168.0.0/16
    (0xc612_0000, 15), // 198.18.0.0/15
    (0xc633_6400, 24), // 198.51.100.0/24
    (0xcb00_7100, 24), // 203.0.113.0/24
    (0xe000_0000, 4),  // 224.0.0.0/4
    (0xf000_0000, 4),  // 240.0.0.0/4, 255.255.255.255 included
];

fn refused_ipv4() -> impl Strategy<Value = Ipv4Addr> {
    (0..REFUSED_IPV4.len(), any::<u32>()).prop_map(|(index, host_bits)| {
        let (prefix, length) = REFUSED_IPV4[index];
        let mask = u32::MAX << (32 - length);
        Ipv4Addr::from(prefix | (host_bits & !mask))
    })
}

fn public_ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("public", |v4| is_public(IpAddr::V4(*v4)))
}

fn v4_bits(v4: Ipv4Addr) -> u128 {
    u128::from(u32::from(v4))
}

/// The forms whose IPv4 address sits at a known place, so the policy decodes and judges it.
fn decoded_forms(v4: Ipv4Addr, free_bits: u128) -> [(&'static str, Ipv6Addr); 4] {
    [
        (
            "IPv4-mapped",
            Ipv6Addr::from(0xffff_u128 << 32 | v4_bits(v4)),
        ),
        ("IPv4-compatible", Ipv6Addr::from(v4_bits(v4))),
        (
            "NAT64",
            Ipv6Addr::from(0x0064_ff9b_u128 << 96 | v4_bits(v4)),
        ),
        // 2002:v4::/48, any subnet and interface.
        (
            "6to4",
            Ipv6Addr::from(0x2002_u128 << 112 | v4_bits(v4) << 80 | (free_bits & ((1 << 80) - 1))),
        ),
    ]
}

/// The forms refused whatever they carry.
fn refused_forms(
    v4: Ipv4Addr,
    other_v4: Ipv4Addr,
    free_bits: u128,
) -> [(&'static str, Ipv6Addr); 3] {
    // Teredo: 2001:0:server:flags:port:client, the port and the client XORed with all ones.
    let teredo = 0x2001_0000_u128 << 96
        | v4_bits(other_v4) << 64
        | (free_bits & 0xffff_ffff) << 32
        | v4_bits(v4) ^ 0xffff_ffff;
    let teredo_server = 0x2001_0000_u128 << 96
        | v4_bits(v4) << 64
        | (free_bits & 0xffff_ffff) << 32
        | v4_bits(other_v4) ^ 0xffff_ffff;
    // 64:ff9b:1::/48 with the IPv4 address anywhere the operator's prefix length puts it.
    let shift = (free_bits % 49) as u32;
    let local_nat64 = 0x0064_ff9b_0001_u128 << 80 | v4_bits(v4) << shift;
    [
        ("Teredo client", Ipv6Addr::from(teredo)),
        ("Teredo server", Ipv6Addr::from(teredo_server)),
        ("local-use NAT64", Ipv6Addr::from(local_nat64)),
    ]
}

proptest! {
    #[test]
    fn a_refused_ipv4_address_is_refused_in_every_ipv6_form(
        v4 in refused_ipv4(),
        other_v4 in any::<u32>().prop_map(Ipv4Addr::from),
        free_bits in any::<u128>(),
    ) {
        let expected = AddressClass::of(IpAddr::V4(v4));
        prop_assert!(!expected.is_public(), "{v4}");
        for (form, v6) in decoded_forms(v4, free_bits) {
            let verdict = classify(IpAddr::V6(v6));
            prop_assert!(!is_public(IpAddr::V6(v6)), "{form} {v6} of {v4}");
            // `::` and `::1` are IPv6's own, not IPv4-compatible, and refused as such.
            if verdict.embedded.is_some() {
                prop_assert_eq!(verdict.class, expected, "{} {} of {}", form, v6, v4);
                prop_assert_eq!(verdict.embedded.unwrap().ipv4, v4);
            }
        }
        for (form, v6) in refused_forms(v4, other_v4, free_bits) {
            prop_assert!(!is_public(IpAddr::V6(v6)), "{form} {v6} of {v4}");
        }
    }

    #[test]
    fn a_public_ipv4_address_stays_public_where_it_is_decoded(
        v4 in public_ipv4(),
        other_v4 in public_ipv4(),
        free_bits in any::<u128>(),
    ) {
        for (form, v6) in decoded_forms(v4, free_bits) {
            prop_assert!(is_public(IpAddr::V6(v6)), "{form} {v6} of {v4}");
        }
        for (form, v6) in refused_forms(v4, other_v4, free_bits) {
            prop_assert!(!is_public(IpAddr::V6(v6)), "{form} {v6} of {v4}");
        }
    }
}
