//! Every refused form the probe of issue 21 found, and more, each with the reason it is refused;
//! and public addresses, near the edges of the refused ranges, allowed.

use std::net::IpAddr;

use egress::{AddressClass, AddressPolicy, Refused, classify, is_public};

use AddressClass::*;

const REFUSED: &[(&str, AddressClass)] = &[
    // IPv4.
    ("0.0.0.0", Unspecified),
    ("0.1.2.3", ThisNetwork),
    ("10.0.0.1", Private),
    ("10.255.255.255", Private),
    ("100.64.0.1", SharedAddressSpace),
    ("100.127.255.254", SharedAddressSpace),
    ("127.0.0.1", Loopback),
    ("127.255.255.254", Loopback),
    ("169.254.169.254", LinkLocal),
    ("169.254.0.1", LinkLocal),
    ("172.16.0.1", Private),
    ("172.31.255.255", Private),
    ("192.0.0.1", ProtocolAssignment),
    ("192.0.0.170", ProtocolAssignment),
    ("192.0.2.1", Documentation),
    ("192.88.99.1", Relay),
    ("192.168.1.1", Private),
    ("198.18.0.1", Benchmarking),
    ("198.19.255.254", Benchmarking),
    ("198.51.100.1", Documentation),
    ("203.0.113.1", Documentation),
    ("224.0.0.1", Multicast),
    ("239.255.255.250", Multicast),
    ("240.0.0.1", Reserved),
    ("254.1.2.3", Reserved),
    ("255.255.255.254", Reserved),
    ("255.255.255.255", Broadcast),
    // IPv6 on its own.
    ("::", Unspecified),
    ("::1", Loopback),
    ("100::1", Discard),
    ("2001::1", Teredo),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", Teredo),
    ("2001:0:c000:201::1", Teredo),
    ("2001:2::1", Benchmarking),
    ("2001:10::1", ProtocolAssignment),
    ("2001:1ff:ffff::1", ProtocolAssignment),
    ("2001:db8::1", Documentation),
    ("3fff::1", Documentation),
    ("3fff:fff::1", Documentation),
    ("5f00::1", SegmentRouting),
    ("fc00::1", Private),
    ("fd00:ec2::254", Private),
    ("fe80::1", LinkLocal),
    ("febf::1", LinkLocal),
    ("fec0::1", SiteLocal),
    ("ff02::1", Multicast),
    ("ff05::1:3", Multicast),
    ("64:ff9b:1::7f00:1", LocalTranslation),
    ("64:ff9b:1:a9fe:a9:fe00::", LocalTranslation),
    // Outside 2000::/3 and named by nothing else: SIIT's ::ffff:0:0:0/96, 4000::/3.
    ("::ffff:0:7f00:1", Reserved),
    ("4000::1", Reserved),
    ("64:ff9b:0:0:1::7f00:1", Reserved),
    // IPv4 inside IPv6, judged by the IPv4 address.
    ("::ffff:127.0.0.1", Loopback),
    ("::ffff:10.0.0.1", Private),
    ("::ffff:169.254.169.254", LinkLocal),
    ("::ffff:198.18.0.1", Benchmarking),
    ("::ffff:240.0.0.1", Reserved),
    ("::ffff:255.255.255.255", Broadcast),
    ("::ffff:0.0.0.0", Unspecified),
    ("::127.0.0.1", Loopback),
    ("::a9fe:a9fe", LinkLocal),
    ("::10.0.0.1", Private),
    ("::0.0.0.2", ThisNetwork),
    ("64:ff9b::7f00:1", Loopback),
    ("64:ff9b::a9fe:a9fe", LinkLocal),
    ("64:ff9b::c612:1", Benchmarking),
    ("64:ff9b::ffff:ffff", Broadcast),
    ("2002:7f00:1::1", Loopback),
    ("2002:a9fe:a9fe::1", LinkLocal),
    ("2002:c0a8:101::1", Private),
    ("2002:f000:1:2:3:4:5:6", Reserved),
];

const PUBLIC: &[&str] = &[
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "1.0.0.0",
    "100.63.255.255",
    "100.128.0.1",
    "172.15.255.255",
    "172.32.0.1",
    "192.0.1.1",
    "192.0.3.1",
    "192.88.98.1",
    "192.169.0.1",
    "198.17.255.255",
    "198.20.0.1",
    "223.255.255.254",
    "2606:4700::1111",
    "2001:4860:4860::8888",
    "2001:200::1",
    "2003::1",
    "2a00:1450:4009:81f::200e",
    "::ffff:8.8.8.8",
    "::8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
];

fn address(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|error| panic!("{text}: {error}"))
}

#[test]
fn every_special_purpose_form_is_refused_with_its_reason() {
    assert!(REFUSED.len() >= 48, "{} forms", REFUSED.len());
    let strict = AddressPolicy::default();
    for (text, expected) in REFUSED {
        let address = address(text);
        assert_eq!(AddressClass::of(address), *expected, "{text}");
        assert!(!is_public(address), "{text}");
        let refused = strict.check_address(address).unwrap_err();
        assert_eq!(refused.class(), *expected, "{text}");
        assert!(
            refused.to_string().ends_with(expected.describe()),
            "{text}: {refused}"
        );
    }
}

#[test]
fn public_addresses_are_allowed() {
    let strict = AddressPolicy::default();
    for text in PUBLIC {
        let address = address(text);
        assert_eq!(AddressClass::of(address), Public, "{text}");
        assert!(is_public(address), "{text}");
        assert_eq!(strict.check_address(address), Ok(()), "{text}");
    }
}

#[test]
fn allowing_private_networks_lifts_every_refusal() {
    let open = AddressPolicy {
        allow_private_networks: true,
    };
    for (text, _) in REFUSED {
        assert_eq!(open.check_address(address(text)), Ok(()), "{text}");
    }
}

#[test]
fn a_refusal_names_the_embedded_address_and_how_it_was_embedded() {
    let refusal = |text: &str| {
        AddressPolicy::default()
            .check_address(address(text))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refusal("::ffff:127.0.0.1"),
        "::ffff:127.0.0.1 embeds 127.0.0.1 (IPv4-mapped), a loopback address"
    );
    assert_eq!(
        refusal("64:ff9b::a9fe:a9fe"),
        "64:ff9b::a9fe:a9fe embeds 169.254.169.254 (NAT64), a link-local address (where cloud metadata lives)"
    );
    assert_eq!(
        refusal("2002:7f00:1::1"),
        "2002:7f00:1::1 embeds 127.0.0.1 (6to4), a loopback address"
    );
    assert!(refusal("::a9fe:a9fe").contains("embeds 169.254.169.254 (IPv4-compatible)"));
    assert_eq!(
        refusal("198.18.0.1"),
        "198.18.0.1 is reserved for benchmarking"
    );
    let verdict = classify(address("::ffff:10.0.0.1"));
    assert!(matches!(
        AddressPolicy::default().check_address(verdict.address),
        Err(Refused::Address(refused)) if refused == verdict
    ));
}
