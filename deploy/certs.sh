#!/usr/bin/env bash
# certs.sh: the cluster CA and the certificates of nodes and clients (openssl commands, documented in
# docs/security.md). Keys are ECDSA P-256, written 0600; certificates carry the callraft identity in
# subjectAltName URIs (tls/tls.h):
#
#   certs.sh init   DIR [--days N]                          CA: DIR/ca.crt, DIR/ca.key (10 years)
#   certs.sh issue  DIR node ID HOST[,HOST...] [--days N]   DIR/node<ID>.crt/.key: callraft:node:<ID>,
#                                                           a DNS or IP SAN per HOST (its raft and
#                                                           client addresses' hosts)
#   certs.sh issue  DIR client NAME ROLE[,ROLE...] [--site SITE] [--days N]
#                                                           DIR/<NAME>.crt/.key: callraft:role:<ROLE>
#                                                           (agent, pbx, supervisor, admin),
#                                                           callraft:site:<SITE> if given
#   certs.sh show   FILE                                    subject, SANs, validity of a certificate
#
# Issued certificates last 825 days unless --days says otherwise (0 makes one that expires at
# once, for tests). Refuses to overwrite an existing CA or certificate.
set -euo pipefail

die() { echo "certs: $*" >&2; exit 2; }
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

days_opt() { # parses [--days N] [--site S] out of "$@" into DAYS and SITE
  DAYS=$1; shift; SITE=
  while [ $# -gt 0 ]; do
    case $1 in
      --days) [ $# -ge 2 ] || die "--days: missing value"; DAYS=$2; shift 2 ;;
      --site) [ $# -ge 2 ] || die "--site: missing value"; SITE=$2; shift 2 ;;
      *) die "unknown option '$1'" ;;
    esac
  done
  [[ $DAYS =~ ^[0-9]+$ ]] || die "--days: '$DAYS' is not a number of days"
}

newkey() { # KEYFILE
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null) ||
    die "cannot write key '$1'"
}

sign() { # DIR NAME CN SAN DAYS
  local dir=$1 name=$2 cn=$3 san=$4 days=$5 ext
  [ -f "$dir/ca.crt" ] && [ -f "$dir/ca.key" ] || die "'$dir': no CA (run: certs.sh init $dir)"
  [ ! -e "$dir/$name.crt" ] || die "'$dir/$name.crt' exists: remove it first to reissue"
  newkey "$dir/$name.key"
  ext=$(mktemp)
  trap 'rm -f "$ext" "$dir/$name.csr"' RETURN
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
    "$san" >"$ext"
  openssl req -new -key "$dir/$name.key" -subj "/CN=$cn" -out "$dir/$name.csr" 2>/dev/null ||
    die "cannot make a request for '$cn'"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days "$days" -sha256 -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null ||
    die "cannot sign '$cn'"
  echo "certs: wrote $dir/$name.crt and $dir/$name.key ($san)"
}

host_san() { # HOST -> DNS:HOST or IP:HOST
  local h=${1#[}; h=${h%]}
  if [[ $h =~ ^[0-9.]+$ ]] || [[ $h == *:* ]]; then echo "IP:$h"; else echo "DNS:$h"; fi
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case $cmd in
  init)
    [ $# -ge 1 ] || usage
    dir=$1; shift; days_opt 3650 "$@"
    mkdir -p "$dir"
    [ ! -e "$dir/ca.key" ] || die "'$dir/ca.key' exists: a cluster has one CA"
    newkey "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=callraft cluster CA" -days "$DAYS" -sha256 \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$dir/ca.crt" 2>/dev/null || die "cannot make the CA"
    echo "certs: wrote $dir/ca.crt and $dir/ca.key (keep ca.key offline: whoever holds it can mint members)"
    ;;
  issue)
    [ $# -ge 3 ] || usage
    dir=$1 kind=$2; shift 2
    case $kind in
      node)
        [ $# -ge 2 ] || usage
        id=$1 hosts=$2; shift 2; days_opt 825 "$@"
        [[ $id =~ ^[1-9][0-9]*$ ]] || die "node id '$id' is not a positive integer"
        san="URI:callraft:node:$id"
        IFS=, read -r -a hl <<<"$hosts"
        for h in "${hl[@]}"; do [ -n "$h" ] && san="$san,$(host_san "$h")"; done
        sign "$dir" "node$id" "node-$id" "$san" "$DAYS"
        ;;
      client)
        [ $# -ge 2 ] || usage
        name=$1 roles=$2; shift 2; days_opt 825 "$@"
        [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "client name '$name': use [A-Za-z0-9._-]"
        san=
        IFS=, read -r -a rl <<<"$roles"
        for r in "${rl[@]}"; do
          case $r in agent|pbx|supervisor|admin) ;; *) die "role '$r': expected agent, pbx, supervisor or admin" ;; esac
          san="${san:+$san,}URI:callraft:role:$r"
        done
        [ -n "$san" ] || die "no role given"
        if [ -n "$SITE" ]; then
          [[ $SITE =~ ^[A-Za-z0-9._-]+$ ]] || die "site '$SITE': use [A-Za-z0-9._-]"
          san="$san,URI:callraft:site:$SITE"
        fi
        sign "$dir" "$name" "$name" "$san" "$DAYS"
        ;;
      *) die "issue: expected 'node' or 'client', got '$kind'" ;;
    esac
    ;;
  show)
    [ $# -eq 1 ] || usage
    [ -r "$1" ] || die "'$1': cannot read"
    openssl x509 -in "$1" -noout -subject -issuer -dates -ext subjectAltName 2>/dev/null ||
      die "'$1': not a PEM certificate"
    if openssl x509 -in "$1" -noout -checkend 0 >/dev/null 2>&1; then echo "status: valid"; else echo "status: EXPIRED"; fi
    ;;
  *) usage ;;
esac
