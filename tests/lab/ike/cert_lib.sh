# Certificate authentication in the lab (source after lib/lab.sh and pops/seed_peers.sh): a test
# PKI made with openssl, strongSwan peers that authenticate with it, and the lines that turn a
# sedge tunnel of seed_peers.sh from its PSK to certificates.
#   cert_pki ec|rsa|rsa4096   $LAB_DIR/pki: ca (the lab CA), site (SAN email site1@example.com),
#                     pop (SAN DNS $POP1_ID), and rogue-ca / rogue-pop / rogue-site: the same
#                     names under another CA of the same name, which nobody trusts.

cert_pki() {
  p=$LAB_DIR/pki
  mkdir -p "$p"
  case $1 in
    rsa) alg="-algorithm RSA -pkeyopt rsa_keygen_bits:2048" ;;
    rsa4096) alg="-algorithm RSA -pkeyopt rsa_keygen_bits:4096" ;;  # an IKE_AUTH larger than 1280 bytes
    *) alg="-algorithm EC -pkeyopt ec_paramgen_curve:P-256" ;;
  esac
  for ca in ca rogue-ca; do
    # shellcheck disable=SC2086
    openssl genpkey $alg -out "$p/$ca.key" 2>/dev/null || lab_fail "openssl could not make the $ca key"
    openssl req -x509 -new -key "$p/$ca.key" -subj "/C=CH/O=Sedge Lab/CN=Sedge Lab CA" -days 3 -out "$p/$ca.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
      lab_fail "openssl could not make the $ca certificate"
  done
  cert_issue site ca "/C=CH/O=Sedge Lab/CN=site1" "email:site1@example.com"
  cert_issue pop ca "/C=CH/O=Sedge Lab/CN=$POP1_ID" "DNS:$POP1_ID"
  cert_issue rogue-pop rogue-ca "/C=CH/O=Sedge Lab/CN=$POP1_ID" "DNS:$POP1_ID"
  cert_issue rogue-site rogue-ca "/C=CH/O=Sedge Lab/CN=site1" "email:site1@example.com"
  chmod 600 "$p"/*.key
  echo "\$ openssl x509 -in pki/site.crt -noout -subject -issuer -ext subjectAltName"
  openssl x509 -in "$p/site.crt" -noout -subject -issuer -ext subjectAltName
}

cert_issue() {  # NAME CA SUBJECT SAN
  # shellcheck disable=SC2086
  openssl genpkey $alg -out "$p/$1.key" 2>/dev/null || lab_fail "openssl could not make the $1 key"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n' "$4" > "$p/$1.ext"
  openssl req -new -key "$p/$1.key" -subj "$3" -out "$p/$1.csr" 2>/dev/null &&
    openssl x509 -req -in "$p/$1.csr" -CA "$p/$2.crt" -CAkey "$p/$2.key" -CAcreateserial -days 2 -sha256 \
      -extfile "$p/$1.ext" -out "$p/$1.crt" 2>/dev/null || lab_fail "openssl could not issue the $1 certificate"
}

# strongSwan NAME in NS authenticating with the certificate CERT (pki/CERT.crt and .key), trusting
# pki/ca.crt: swanctl's x509, x509ca and private directories beside its swanctl.conf in
# $LAB_DIR/NAME (swanctl --file takes them from there), the connection like swanctl_conf's with
# auth = $CERT_AUTH (default pubkey).
#   cert_strongswan NAME NS CERT LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS [remote_addrs line]
cert_strongswan() {
  d=$LAB_DIR/$1
  mkdir -p "$d/x509" "$d/x509ca" "$d/private"
  cp "$LAB_DIR/pki/$3.crt" "$d/x509/"
  cp "$LAB_DIR/pki/ca.crt" "$d/x509ca/"
  ( umask 077; openssl pkey -in "$LAB_DIR/pki/$3.key" -out "$d/private/$3.pem" )
  cat > "$d/swanctl.conf" <<EOC
connections {
  sec {
    ${8:-}
    proposals = $SEED_IKE
    local { auth = ${CERT_AUTH:-pubkey}
      certs = $3.crt
      id = $4 }
    remote { auth = pubkey
      id = $5 }
    children { c { local_ts = $6
        remote_ts = $7
        esp_proposals = $SEED_ESP } }
  }
}
EOC
  lab_strongswan "$1" "$2"
  echo "\$ swanctl --list-certs   # at $1"
  lab_swanctl "$1" --list-certs | grep -E "subject|issuer|altNames|pubkey" | head -8
}

# The lines that make a seed_peers.sh sedge tunnel authenticate with pki/CERT (appended to its
# [Tunnel] section; the connector's PSK is then unused).
cert_sedge_lines() {  # CERT
  printf 'AuthMethod=pubkey\nCertificate=%s\nPrivateKeyFile=%s\nCAPath=%s\n' \
    "$LAB_DIR/pki/$1.crt" "$LAB_DIR/pki/$1.key" "$LAB_DIR/pki/ca.crt"
}

# sedge at pop1 responding with pki/CERT (pop1_sedge with the certificate lines, then EXTRA; its
# PSK is then unused; log $LAB_DIR/respond.log).
cert_pop1_sedge() {  # CERT [EXTRA]
  pop1_sedge "$(cert_sedge_lines "$1")${2:-}"
}

# libreswan NAME's NSS database, made before lab_libreswan starts pluto on it: pki/ca.crt trusted
# to issue peers' certificates and pki/CERT with its key (nickname CERT), imported with
# certutil and pk12util from a PKCS#12 file openssl makes.
cert_libreswan_nss() {  # NAME CERT
  d=$LAB_DIR/$1
  mkdir -p "$d/nss"
  certutil -N -d "sql:$d/nss" --empty-password
  certutil -A -d "sql:$d/nss" -n "Sedge Lab CA" -t "CT,," -a -i "$LAB_DIR/pki/ca.crt" || lab_fail "certutil could not add the lab CA"
  ( umask 077; openssl rand -hex 16 > "$d/p12.pass" )
  openssl pkcs12 -export -in "$LAB_DIR/pki/$2.crt" -inkey "$LAB_DIR/pki/$2.key" -name "$2" -passout "file:$d/p12.pass" \
    -out "$d/$2.p12" || lab_fail "openssl could not make the PKCS#12 file of $2"
  pk12util -i "$d/$2.p12" -d "sql:$d/nss" -w "$d/p12.pass" -K "" > "$d/pk12util.log" 2>&1 ||
    { cat "$d/pk12util.log"; lab_fail "pk12util could not import $2"; }
  echo "\$ certutil -L   # at $1"
  certutil -L -d "sql:$d/nss"
}

# The lines of a libreswan connection (libreswan_conf's AUTH) that authenticate with pki/CERT
# from the NSS database: KIND ec signs ECDSA (authby=ecdsa), rsa RSASSA-PSS (authby=rsa-sha2),
# both RFC 7427; the peer's certificate must come from the same CA.
cert_libreswan_lines() {  # KIND CERT
  if [ "$1" = rsa ]; then by=rsa-sha2; else by=ecdsa; fi
  printf 'authby=%s\n\tleftcert=%s\n\tleftsendcert=always\n\trightca=%%same' "$by" "$2"
}

# libreswan NAME authenticated its peer with KIND's RFC 7427 signature (ECDSA, or RSASSA-PSS for
# rsa) and a certificate of the lab CA, as its log says.
cert_libreswan_expect() {  # NAME KIND
  if [ "$2" = rsa ]; then sig=RSASSA-PSS; else sig=ECDSA; fi
  echo "\$ grep 'established IKE SA' $1/pluto.log"
  grep "established IKE SA" "$LAB_DIR/$1/pluto.log" | sed 's/^.*: "sec"/"sec"/'
  grep -q "established IKE SA; authenticated peer '[^']*$sig[^']*' digital signature using peer certificate '[^']*' issued by CA 'C=CH, O=Sedge Lab, CN=Sedge Lab CA'" \
    "$LAB_DIR/$1/pluto.log" || lab_fail "libreswan did not authenticate sedge's $sig signature and certificate"
}
