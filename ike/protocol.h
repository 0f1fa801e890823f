// The IKEv2 vocabulary, one owner for every number on the wire: exchange and payload types,
// notify types, protocol IDs, transform types and IDs, identification and auth methods
// (RFC 7296 section 3 and the IANA "IKEv2 Parameters" registry). Every layer that speaks IKE
// (and GDOI, which borrows payloads) names these constants; none defines its own.
#pragma once

#include <cstdint>

namespace sedge::ike {

// Exchange types (3.1).
enum class Exchange : uint8_t { ike_sa_init = 34, ike_auth = 35, create_child_sa = 36, informational = 37 };

// Header flags (3.1).
enum HeaderFlags : uint8_t { kFlagInitiator = 0x08, kFlagVersion = 0x10, kFlagResponse = 0x20 };

// Payload types (3.2); SKF is RFC 7383.
inline constexpr uint8_t kNoNext = 0, kSa = 33, kKe = 34, kIdi = 35, kIdr = 36, kCert = 37, kCertReq = 38,
                         kAuth = 39, kNonce = 40, kNotify = 41, kDelete = 42, kVendor = 43, kTsi = 44,
                         kTsr = 45, kSk = 46, kCp = 47, kEap = 48, kSkf = 53;

// Protocol IDs (3.3.1).
inline constexpr uint8_t kProtocolIke = 1, kProtocolAh = 2, kProtocolEsp = 3;

// Transform types (3.3.2) and IDs (RFC 7296, RFC 4868, RFC 5282).
inline constexpr uint8_t kTransformEncr = 1, kTransformPrf = 2, kTransformInteg = 3, kTransformDh = 4,
                         kTransformEsn = 5;
inline constexpr uint16_t kEncrNull = 11, kEncrAesCbc = 12, kEncrAesGcm16 = 20;
// HMAC-SHA1 is here for known-answer tests of the KDF only: sedge never negotiates it.
inline constexpr uint16_t kPrfHmacSha1 = 2, kPrfHmacSha256 = 5, kPrfHmacSha384 = 6, kPrfHmacSha512 = 7;
inline constexpr uint16_t kIntegNone = 0, kIntegHmacSha256_128 = 12, kIntegHmacSha384_192 = 13,
                          kIntegHmacSha512_256 = 14;
inline constexpr uint16_t kAttributeKeyLength = 14;

// Notify message types (3.10.1): errors below 16384, status from 16384.
inline constexpr uint16_t kNotifyUnsupportedCriticalPayload = 1, kNotifyInvalidIkeSpi = 4,
                          kNotifyInvalidMajorVersion = 5, kNotifyInvalidSyntax = 7, kNotifyInvalidMessageId = 9,
                          kNotifyInvalidSpi = 11, kNotifyNoProposalChosen = 14, kNotifyInvalidKe = 17,
                          kNotifyAuthenticationFailed = 24, kNotifySinglePairRequired = 34,
                          kNotifyNoAdditionalSas = 35, kNotifyInternalAddressFailure = 36,
                          kNotifyFailedCpRequired = 37, kNotifyTsUnacceptable = 38, kNotifyInvalidSelectors = 39,
                          kNotifyTemporaryFailure = 43, kNotifyChildSaNotFound = 44;
inline constexpr uint16_t kNotifyErrorMax = 16383;
inline constexpr uint16_t kNotifyInitialContact = 16384, kNotifySetWindowSize = 16385,
                          kNotifyNatDetectionSourceIp = 16388, kNotifyNatDetectionDestinationIp = 16389,
                          kNotifyCookie = 16390, kNotifyUseTransportMode = 16391, kNotifyRekeySa = 16393,
                          kNotifyEspTfcPaddingNotSupported = 16394, kNotifyNonFirstFragmentsAlso = 16395,
                          kNotifyFragmentationSupported = 16430,  // RFC 7383
                          kNotifySignatureHashAlgorithms = 16431;  // RFC 7427

// The notify's name as RFC 7296 writes it ("an error" / "a status" for numbers we do not name).
const char* notify_name(uint16_t type);

// Identification types (3.5).
enum IdType : uint8_t { kIdIpv4 = 1, kIdFqdn = 2, kIdRfc822 = 3, kIdIpv6 = 5, kIdDerAsn1Dn = 9, kIdKeyId = 11 };

// Authentication methods (3.8, RFC 4754, RFC 7427).
inline constexpr uint8_t kAuthRsaSignature = 1, kAuthSharedKeyMic = 2, kAuthEcdsaP256 = 9, kAuthEcdsaP384 = 10,
                         kAuthEcdsaP521 = 11, kAuthDigitalSignature = 14;
// Hash algorithm IDs of RFC 7427 (IANA "IKEv2 Hash Algorithms").
inline constexpr uint16_t kHashSha1 = 1, kHashSha256 = 2, kHashSha384 = 3, kHashSha512 = 4;

// Certificate encoding (3.6): X.509 certificate - signature.
inline constexpr uint8_t kCertX509Signature = 4;

// Traffic selector types (3.13.1).
inline constexpr uint8_t kTsIpv4AddrRange = 7, kTsIpv6AddrRange = 8;

// Well-known ports (RFC 7296 2.23, RFC 3948): the defaults; both are configurable.
inline constexpr uint16_t kIkePort = 500, kNattPort = 4500;

}  // namespace sedge::ike
