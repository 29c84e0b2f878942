# Sourced by scripts/mesh-demo and scripts/bench-mesh: a test PKI made with openssl.
# mesh_pki DIR NAME... writes DIR/ca.pem and, per NAME, DIR/NAME.pem and DIR/NAME.key: a
# P-256 certificate for NAME.example.test (subjectAltName DNS, server and client use).
mesh_pki() {
  local dir=$1; shift
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Mesh Test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  local name fqdn
  for name in "$@"; do
    fqdn=$name.example.test
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$fqdn" \
      -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
    printf "subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n" "$fqdn" >"$dir/$name.ext"
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
      -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
  done
}
