#!/usr/bin/env bash
# A self-made CA, a host certificate (CN=localhost, SAN localhost/hostname/127.0.0.1) and a
# user certificate (CN=ciuser) for a one-host DIRAC, after DIRAC's own
# tests/Jenkins/utilities.sh (generateCA, generateCertificates, generateUserCredentials).
#   tools/dirac/certs.sh STATE      # writes STATE/etc/grid-security and STATE/user
set -euo pipefail
STATE=${1:?usage: certs.sh STATE}
GS=$STATE/etc/grid-security
mkdir -p "$GS/certificates" "$GS/ca/newcerts" "$GS/vomsdir" "$GS/vomses" "$STATE/user"
cd "$GS/ca"
: >index.txt
echo 1000 >serial
echo 1000 >crlnumber
cat >ca.cnf <<CNF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $GS/ca
new_certs_dir = \$dir/newcerts
database = \$dir/index.txt
serial = \$dir/serial
private_key = \$dir/ca.key.pem
certificate = \$dir/ca.cert.pem
default_md = sha256
default_days = 30
policy = policy_loose
copy_extensions = copy
[ policy_loose ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[ dn ]
O = DIRAC CI
CN = DIRAC CI Signing Certification Authority
[ v3_ca ]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer
basicConstraints = critical, CA:true
keyUsage = critical, digitalSignature, cRLSign, keyCertSign
[ usr_cert ]
basicConstraints = CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
keyUsage = critical, nonRepudiation, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
[ server_cert ]
basicConstraints = CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer:always
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
CNF
openssl genrsa -out ca.key.pem 2048 2>/dev/null
chmod 400 ca.key.pem
openssl req -config ca.cnf -key ca.key.pem -new -x509 -days 30 -sha256 -extensions v3_ca -out ca.cert.pem
cp ca.cert.pem "$GS/certificates/"
ln -sf ca.cert.pem "$GS/certificates/$(openssl x509 -in ca.cert.pem -noout -hash).0"

cd "$GS"
cat >host.cnf <<CNF
[ req ]
distinguished_name = dn
prompt = no
req_extensions = v3_req
[ dn ]
C = ch
O = DIRAC
OU = DIRAC CI
CN = localhost
[ v3_req ]
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost, DNS:$(hostname), IP:127.0.0.1
CNF
openssl genrsa -out hostkey.pem 2048 2>/dev/null
chmod 400 hostkey.pem
openssl req -config host.cnf -key hostkey.pem -new -sha256 -out host.csr
openssl ca -config ca/ca.cnf -days 30 -extensions server_cert -batch -in host.csr -out hostcert.pem 2>/dev/null

cd "$STATE/user"
cat >user.cnf <<CNF
[ req ]
distinguished_name = dn
prompt = no
req_extensions = v3_req
[ dn ]
C = ch
O = DIRAC
OU = DIRAC CI
CN = ciuser
[ v3_req ]
keyUsage = critical, nonRepudiation, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
CNF
openssl genrsa -out client.key 2048 2>/dev/null
chmod 400 client.key
openssl req -config user.cnf -key client.key -new -out client.req
openssl ca -config "$GS/ca/ca.cnf" -extensions usr_cert -batch -days 30 -in client.req -out client.pem 2>/dev/null
echo "showerflow-dirac: CA, host and user certificates in $GS and $STATE/user"
