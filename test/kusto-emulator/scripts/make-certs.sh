#!/usr/bin/env bash
# make-certs.sh OUTDIR: throw-away certificates for tests, with the openssl
# command:
#   OUTDIR/ca.pem                         a CA
#   OUTDIR/server.pem, server-key.pem     a server certificate it signed
#                                         (SAN 127.0.0.1, localhost): for
#                                         kusto-emulator --tls-cert/--tls-key
#   OUTDIR/client.pem, client-key.pem     a self-signed RSA client certificate
#                                         for the certificate credential
#                                         (kusto-emulator --client-certificate)
set -euo pipefail
out=${1:?usage: make-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kusto-emulator test CA" \
	-keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server-key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
	-extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kusto-sink-dev" \
	-keyout client-key.pem -out client.pem 2>/dev/null
chmod 644 ./*.pem
