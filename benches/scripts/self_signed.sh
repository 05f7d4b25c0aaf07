# Sourced by the TLS benchmark scripts: `self_signed DIR` writes DIR/cert.pem and DIR/key.pem, a
# self-signed P-256 certificate for localhost. basicConstraints CA:FALSE, since webpki (rustls,
# ringws-load --ca) refuses a CA certificate serving as the server's own.
self_signed() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -addext basicConstraints=critical,CA:FALSE \
    -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
}
