#!/usr/bin/env bash
# make-certs.sh OUTDIR: a throw-away client certificate for the certificate
# credential (OUTDIR/client.pem, OUTDIR/client-key.pem, RSA 2048), with the
# openssl command. Register it with kusto-emulator --client-certificate.
set -euo pipefail
out=${1:?usage: make-certs.sh OUTDIR}
mkdir -p "$out"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kusto-sink-dev" \
	-keyout "$out/client-key.pem" -out "$out/client.pem" 2>/dev/null
chmod 644 "$out/client.pem" "$out/client-key.pem"
