#include "ike/protocol.h"

namespace sedge::ike {

const char* notify_name(uint16_t type) {
  switch (type) {
    case kNotifyUnsupportedCriticalPayload: return "UNSUPPORTED_CRITICAL_PAYLOAD";
    case kNotifyInvalidIkeSpi: return "INVALID_IKE_SPI";
    case kNotifyInvalidMajorVersion: return "INVALID_MAJOR_VERSION";
    case kNotifyInvalidSyntax: return "INVALID_SYNTAX";
    case kNotifyInvalidMessageId: return "INVALID_MESSAGE_ID";
    case kNotifyInvalidSpi: return "INVALID_SPI";
    case kNotifyNoProposalChosen: return "NO_PROPOSAL_CHOSEN";
    case kNotifyInvalidKe: return "INVALID_KE_PAYLOAD";
    case kNotifyAuthenticationFailed: return "AUTHENTICATION_FAILED";
    case kNotifySinglePairRequired: return "SINGLE_PAIR_REQUIRED";
    case kNotifyNoAdditionalSas: return "NO_ADDITIONAL_SAS";
    case kNotifyInternalAddressFailure: return "INTERNAL_ADDRESS_FAILURE";
    case kNotifyFailedCpRequired: return "FAILED_CP_REQUIRED";
    case kNotifyTsUnacceptable: return "TS_UNACCEPTABLE";
    case kNotifyInvalidSelectors: return "INVALID_SELECTORS";
    case kNotifyTemporaryFailure: return "TEMPORARY_FAILURE";
    case kNotifyChildSaNotFound: return "CHILD_SA_NOT_FOUND";
    case kNotifyInitialContact: return "INITIAL_CONTACT";
    case kNotifySetWindowSize: return "SET_WINDOW_SIZE";
    case kNotifyNatDetectionSourceIp: return "NAT_DETECTION_SOURCE_IP";
    case kNotifyNatDetectionDestinationIp: return "NAT_DETECTION_DESTINATION_IP";
    case kNotifyCookie: return "COOKIE";
    case kNotifyUseTransportMode: return "USE_TRANSPORT_MODE";
    case kNotifyRekeySa: return "REKEY_SA";
    case kNotifyEspTfcPaddingNotSupported: return "ESP_TFC_PADDING_NOT_SUPPORTED";
    case kNotifyNonFirstFragmentsAlso: return "NON_FIRST_FRAGMENTS_ALSO";
    case kNotifyFragmentationSupported: return "IKEV2_FRAGMENTATION_SUPPORTED";
    case kNotifySignatureHashAlgorithms: return "SIGNATURE_HASH_ALGORITHMS";
    default: return type <= kNotifyErrorMax ? "an error" : "a status";
  }
}

}  // namespace sedge::ike
