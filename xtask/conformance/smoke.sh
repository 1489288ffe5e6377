#!/usr/bin/env bash
# Hand check of a conformance authorization server against the contract in
# README.md, with curl only (no browser).
#
#   xtask/conformance/smoke.sh oidc-provider
#   xtask/conformance/smoke.sh authlib
#
# Installs the server's dependencies if missing, starts it on a free loopback
# port, runs the flows, prints PASS/FAIL per step (INFO lines are observations,
# not checks), stops the server, and exits non-zero on any FAIL.
set -uo pipefail

KIND="${1:-}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "$KIND" in
  oidc-provider | authlib) ;;
  *)
    echo "usage: $0 oidc-provider|authlib" >&2
    exit 2
    ;;
esac
DIR="$HERE/$KIND"
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $1${2:+ — $2}"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1${2:+ — $2}"; }
info() { echo "INFO $*"; }
check() { # check NAME CONDITION-STATUS DETAIL
  if [[ "$2" == 0 ]]; then pass "$1" "$3"; else fail "$1" "$3"; fi
}
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}s')" "$1" "$2"; }

# ---------------------------------------------------------------- install
T0=$(now)
if [[ "$KIND" == oidc-provider ]]; then
  if [[ ! -d "$DIR/node_modules/oidc-provider" ]]; then
    (cd "$DIR" && npm ci --no-audit --no-fund >"$WORK/install.log" 2>&1) || {
      cat "$WORK/install.log" >&2; echo "FAIL install" ; exit 1; }
    info "install (npm ci): $(elapsed "$T0" "$(now)")"
  else
    info "install: node_modules already present"
  fi
  START=(node "$DIR/server.mjs")
else
  if [[ ! -x "$DIR/.venv/bin/python" ]] || ! "$DIR/.venv/bin/python" -c 'import authlib, flask' 2>/dev/null; then
    (python3 -m venv "$DIR/.venv" && "$DIR/.venv/bin/pip" install -q -r "$DIR/requirements.txt") \
      >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; echo "FAIL install"; exit 1; }
    info "install (venv + pip): $(elapsed "$T0" "$(now)")"
  else
    info "install: .venv already present"
  fi
  START=("$DIR/.venv/bin/python" "$DIR/server.py")
fi

# ---------------------------------------------------------------- start
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
BASE="http://127.0.0.1:$PORT"
T0=$(now)
"${START[@]}" --port "$PORT" >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!
READY=""
for _ in $(seq 1 200); do
  if grep -q '^READY ' "$WORK/stdout" 2>/dev/null; then READY=1; break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.05
done
if [[ -z "$READY" ]]; then
  fail "start" "no READY line"; cat "$WORK/stderr" >&2; exit 1
fi
LINE=$(cat "$WORK/stdout")
[[ "$LINE" == "READY $BASE" ]]; check "start: stdout is exactly 'READY $BASE'" $? "after $(elapsed "$T0" "$(now)")"

# ---------------------------------------------------------------- helpers
CB="http://127.0.0.1/callback"
SCOPE="openid offline_access read"
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
qparam() { # qparam URL NAME -> value of NAME in the URL's query (empty if absent)
  python3 -c 'import sys, urllib.parse as u; q=u.parse_qs(u.urlsplit(sys.argv[1]).query); print(q.get(sys.argv[2], [""])[0])' "$1" "$2"
}
hasparam() { python3 -c 'import sys, urllib.parse as u; sys.exit(0 if sys.argv[2] in u.parse_qs(u.urlsplit(sys.argv[1]).query) else 1)' "$1" "$2"; }
jget() { # jget FILE KEY -> value ("" if absent)
  python3 -c 'import sys, json
try: d = json.load(open(sys.argv[1]))
except Exception: d = {}
v = d.get(sys.argv[2], "") if isinstance(d, dict) else ""
print(v if not isinstance(v, bool) else str(v).lower())' "$1" "$2"
}
jhas() { python3 -c 'import sys, json; d=json.load(open(sys.argv[1])); sys.exit(0 if sys.argv[2] in d else 1)' "$1" "$2" 2>/dev/null; }
verifier() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }
challenge() { python3 -c 'import sys, hashlib, base64; print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b"=").decode())' "$1"; }
body() { tr -d '\n' <"$1"; }

# authorize CLIENT STATE [CHALLENGE] -> sets CALLBACK (final Location), HOPS
# (EXTRA_QUERY, if set, is appended to the authorization URL)
authorize() {
  local client=$1 state=$2 chal=${3:-} jar="$WORK/jar.$RANDOM" url out code
  url="$BASE/authorize?response_type=code&client_id=$client&redirect_uri=$(urlenc "$CB")&scope=$(urlenc "$SCOPE")&state=$state"
  [[ -n "$chal" ]] && url+="&code_challenge=$chal&code_challenge_method=S256"
  url+="${EXTRA_QUERY:-}"
  CALLBACK=""
  HOPS=0
  while ((HOPS < 10)); do
    out=$(curl -s -o "$WORK/authz.body" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' "$url")
    code=${out%% *}
    url=${out#* }
    if [[ -z "$url" || "$url" == "$code" ]]; then
      CALLBACK="HTTP $code (no redirect): $(head -c 300 "$WORK/authz.body")"
      return 1
    fi
    HOPS=$((HOPS + 1))
    if [[ "$url" == "$CB"* ]]; then CALLBACK=$url; return 0; fi
  done
  CALLBACK="too many redirects"
  return 1
}

# token OUT AUTHSTYLE CLIENT SECRET form-args... -> prints HTTP status; body in OUT
# AUTHSTYLE: basic | post | none
token() {
  local out=$1 style=$2 client=$3 secret=$4
  shift 4
  local args=(-s -o "$out" -w '%{http_code}' -X POST "$BASE/token")
  case "$style" in
    basic) args+=(-u "$client:$secret") ;;
    post) args+=(--data-urlencode "client_id=$client" --data-urlencode "client_secret=$secret") ;;
    none) args+=(--data-urlencode "client_id=$client") ;;
  esac
  for a in "$@"; do args+=(--data-urlencode "$a"); done
  curl "${args[@]}"
}
revoke() { # revoke OUT AUTHSTYLE CLIENT SECRET TOKEN [HINT]
  local out=$1 style=$2 client=$3 secret=$4 tok=$5 hint=${6:-}
  local args=(-s -o "$out" -w '%{http_code}' -X POST "$BASE/revoke" --data-urlencode "token=$tok")
  [[ -n "$hint" ]] && args+=(--data-urlencode "token_type_hint=$hint")
  case "$style" in
    basic) args+=(-u "$client:$secret") ;;
    post) args+=(--data-urlencode "client_id=$client" --data-urlencode "client_secret=$secret") ;;
    none) args+=(--data-urlencode "client_id=$client") ;;
  esac
  curl "${args[@]}"
}
resource() { # resource OUT TOKEN -> status; WWW-Authenticate in OUT.hdr
  curl -s -o "$1" -D "$1.hdr" -w '%{http_code}' ${2:+-H "Authorization: Bearer $2"} "$BASE/resource"
}
consent_mode() {
  curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    -d "{\"mode\":\"$1\"}" "$BASE/__control/consent"
}
expect_error() { # expect_error NAME STATUS FILE WANT_STATUS WANT_ERROR
  local name=$1 st=$2 file=$3 want_st=$4 want_err=$5 err
  err=$(jget "$file" error)
  [[ "$st" == "$want_st" && "$err" == "$want_err" ]]
  check "$name" $? "HTTP $st $(body "$file")"
}

# get_code CLIENT VERIFIER -> sets CODE (and checks state); returns non-zero on failure
get_code() {
  local client=$1 v=$2 state="st-$RANDOM$RANDOM"
  CODE=""
  if ! authorize "$client" "$state" "$(challenge "$v")"; then return 1; fi
  CODE=$(qparam "$CALLBACK" code)
  [[ -n "$CODE" && "$(qparam "$CALLBACK" state)" == "$state" ]]
}

declare -A STYLE=([basic-client]=basic [post-client]=post [public-client]=none)
declare -A SECRET=([basic-client]=basic-secret [post-client]=post-secret [public-client]=)

# ---------------------------------------------------------------- main flow per client
for client in basic-client post-client public-client; do
  style=${STYLE[$client]}
  secret=${SECRET[$client]}
  v=$(verifier)
  state="st-$RANDOM$RANDOM"
  authorize "$client" "$state" "$(challenge "$v")"
  rc=$?
  code=""
  if ((rc == 0)); then
    code=$(qparam "$CALLBACK" code)
    [[ -n "$code" && "$(qparam "$CALLBACK" state)" == "$state" ]]
    check "$client: authorize (PKCE S256) -> code+state" $? "$HOPS redirects"
    if hasparam "$CALLBACK" iss; then info "$client: callback iss=$(qparam "$CALLBACK" iss)"; else info "$client: callback has no iss"; fi
  else
    fail "$client: authorize" "$CALLBACK"
    continue
  fi

  st=$(token "$WORK/tok.json" "$style" "$client" "$secret" grant_type=authorization_code "code=$code" "redirect_uri=$CB" "code_verifier=$v")
  at=$(jget "$WORK/tok.json" access_token)
  rt=$(jget "$WORK/tok.json" refresh_token)
  [[ "$st" == 200 && -n "$at" && -n "$rt" ]]
  check "$client: code exchange ($style) -> access+refresh token" $? "HTTP $st"
  ((st == 200)) || { info "$client: $(body "$WORK/tok.json")"; continue; }
  info "$client: token response keys: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sorted(d))' "$WORK/tok.json"); token_type=$(jget "$WORK/tok.json" token_type) scope='$(jget "$WORK/tok.json" scope)' expires_in=$(jget "$WORK/tok.json" expires_in)"

  st=$(resource "$WORK/res.json" "$at")
  [[ "$st" == 200 && "$(jget "$WORK/res.json" ok)" == true && -n "$(jget "$WORK/res.json" sub)" ]]
  check "$client: GET /resource with Bearer" $? "HTTP $st $(body "$WORK/res.json")"

  st=$(token "$WORK/ref.json" "$style" "$client" "$secret" grant_type=refresh_token "refresh_token=$rt")
  at2=$(jget "$WORK/ref.json" access_token)
  rt2=$(jget "$WORK/ref.json" refresh_token)
  [[ "$st" == 200 && -n "$at2" ]]
  check "$client: refresh" $? "HTTP $st"
  if [[ -z "$rt2" ]]; then
    info "$client: refresh response has no refresh_token (keep the old one); scope='$(jget "$WORK/ref.json" scope)'"
    rt2=$rt
  elif [[ "$rt2" == "$rt" ]]; then
    info "$client: refresh response repeats the same refresh_token; scope='$(jget "$WORK/ref.json" scope)'"
  else
    info "$client: refresh response carries a NEW refresh_token (rotation); scope='$(jget "$WORK/ref.json" scope)'"
  fi

  st=$(resource "$WORK/res.json" "$at2")
  [[ "$st" == 200 ]]
  check "$client: GET /resource with refreshed access token" $? "HTTP $st"

  st=$(revoke "$WORK/rev.json" "$style" "$client" "$secret" "$rt2" refresh_token)
  [[ "$st" == 200 ]]
  check "$client: revoke refresh token" $? "HTTP $st $(body "$WORK/rev.json")"

  st=$(token "$WORK/ref2.json" "$style" "$client" "$secret" grant_type=refresh_token "refresh_token=$rt2")
  expect_error "$client: refresh with revoked token fails" "$st" "$WORK/ref2.json" 400 invalid_grant

  st=$(resource "$WORK/res.json" "$at2")
  info "$client: access token after its refresh token was revoked -> HTTP $st"
done

# ---------------------------------------------------------------- prompt=consent
v=$(verifier)
state="st-$RANDOM"
if EXTRA_QUERY="&prompt=consent" authorize post-client "$state" "$(challenge "$v")" && [[ -n "$(qparam "$CALLBACK" code)" ]]; then
  st=$(token "$WORK/t.json" post post-client post-secret grant_type=authorization_code "code=$(qparam "$CALLBACK" code)" "redirect_uri=$CB" "code_verifier=$v")
  [[ "$st" == 200 && -n "$(jget "$WORK/t.json" refresh_token)" ]]
  check "prompt=consent: authorize + exchange -> refresh token" $? "$HOPS redirects; HTTP $st scope='$(jget "$WORK/t.json" scope)'"
else
  fail "prompt=consent: authorize" "$CALLBACK"
fi

# ---------------------------------------------------------------- rotation reuse (public client)
v=$(verifier)
if get_code public-client "$v"; then
  token "$WORK/t.json" none public-client "" grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$v" >/dev/null
  rt=$(jget "$WORK/t.json" refresh_token)
  token "$WORK/r1.json" none public-client "" grant_type=refresh_token "refresh_token=$rt" >/dev/null
  rtn=$(jget "$WORK/r1.json" refresh_token)
  if [[ -n "$rtn" && "$rtn" != "$rt" ]]; then
    st=$(token "$WORK/r2.json" none public-client "" grant_type=refresh_token "refresh_token=$rt")
    expect_error "public-client: rotated-out refresh token is rejected" "$st" "$WORK/r2.json" 400 invalid_grant
    st=$(token "$WORK/r3.json" none public-client "" grant_type=refresh_token "refresh_token=$rtn")
    info "public-client: newest refresh token after reuse of the old one -> HTTP $st $(body "$WORK/r3.json")"
  else
    fail "public-client: refresh rotates" "no new refresh token"
  fi
else
  fail "public-client: authorize (rotation test)" "$CALLBACK"
fi

# ---------------------------------------------------------------- code replay
v=$(verifier)
if get_code public-client "$v"; then
  st=$(token "$WORK/t.json" none public-client "" grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$v")
  at=$(jget "$WORK/t.json" access_token)
  [[ "$st" == 200 ]]; check "replay: first exchange" $? "HTTP $st"
  st=$(token "$WORK/t2.json" none public-client "" grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$v")
  expect_error "replay: second exchange of the same code fails" "$st" "$WORK/t2.json" 400 invalid_grant
  st=$(resource "$WORK/res.json" "$at")
  info "replay: access token from the first exchange afterwards -> HTTP $st"
else
  fail "replay: authorize" "$CALLBACK"
fi

# confidential client replay too (Basic)
v=$(verifier)
if get_code basic-client "$v"; then
  token "$WORK/t.json" basic basic-client basic-secret grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$v" >/dev/null
  st=$(token "$WORK/t2.json" basic basic-client basic-secret grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$v")
  expect_error "replay (basic-client): second exchange fails" "$st" "$WORK/t2.json" 400 invalid_grant
else
  fail "replay (basic-client): authorize" "$CALLBACK"
fi

# ---------------------------------------------------------------- wrong verifier
v=$(verifier)
if get_code public-client "$v"; then
  st=$(token "$WORK/t.json" none public-client "" grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$(verifier)")
  expect_error "wrong code_verifier (public-client) fails" "$st" "$WORK/t.json" 400 invalid_grant
  st=$(token "$WORK/t2.json" none public-client "" grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$v")
  info "wrong verifier: same code with the right verifier afterwards -> HTTP $st $(jget "$WORK/t2.json" error)"
else
  fail "wrong verifier: authorize" "$CALLBACK"
fi
v=$(verifier)
if get_code post-client "$v"; then
  st=$(token "$WORK/t.json" post post-client post-secret grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$(verifier)")
  expect_error "wrong code_verifier (post-client) fails" "$st" "$WORK/t.json" 400 invalid_grant
else
  fail "wrong verifier (post-client): authorize" "$CALLBACK"
fi

# ---------------------------------------------------------------- expired code
v=$(verifier)
if get_code basic-client "$v"; then
  sleep 3.5
  st=$(token "$WORK/t.json" basic basic-client basic-secret grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$v")
  expect_error "expired code (3 s > 2 s lifetime) fails" "$st" "$WORK/t.json" 400 invalid_grant
else
  fail "expired code: authorize" "$CALLBACK"
fi

# ---------------------------------------------------------------- client authentication
v=$(verifier)
if get_code basic-client "$v"; then
  st=$(token "$WORK/t.json" basic basic-client wrong-secret grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$v")
  expect_error "wrong client secret (Basic) -> 401 invalid_client" "$st" "$WORK/t.json" 401 invalid_client
else
  fail "wrong secret: authorize" "$CALLBACK"
fi
st=$(token "$WORK/t.json" post post-client wrong-secret grant_type=authorization_code code=bogus "redirect_uri=$CB")
info "wrong client secret (post) -> HTTP $st $(body "$WORK/t.json")"
[[ "$st" == 400 || "$st" == 401 ]] && [[ "$(jget "$WORK/t.json" error)" == invalid_client ]]
check "wrong client secret (post) -> invalid_client" $? "HTTP $st"
st=$(token "$WORK/t.json" basic unknown-client whatever grant_type=authorization_code code=bogus "redirect_uri=$CB")
expect_error "unknown client (Basic) -> 401 invalid_client" "$st" "$WORK/t.json" 401 invalid_client
st=$(token "$WORK/t.json" post unknown-client whatever grant_type=authorization_code code=bogus "redirect_uri=$CB")
[[ "$st" == 400 || "$st" == 401 ]] && [[ "$(jget "$WORK/t.json" error)" == invalid_client ]]
check "unknown client (post) -> invalid_client" $? "HTTP $st $(body "$WORK/t.json")"
st=$(token "$WORK/t.json" none basic-client "" grant_type=authorization_code code=bogus "redirect_uri=$CB")
[[ "$st" == 400 || "$st" == 401 ]] && [[ "$(jget "$WORK/t.json" error)" == invalid_client ]]
check "confidential client without a secret -> invalid_client" $? "HTTP $st $(body "$WORK/t.json")"

# ---------------------------------------------------------------- revocation edge cases
st=$(revoke "$WORK/r.json" basic basic-client basic-secret "no-such-token-$RANDOM")
[[ "$st" == 200 ]]; check "revoke unknown token -> 200" $? "HTTP $st $(body "$WORK/r.json")"
st=$(revoke "$WORK/r.json" none public-client "" "no-such-token-$RANDOM")
[[ "$st" == 200 ]]; check "revoke unknown token (public-client, client_id in body) -> 200" $? "HTTP $st $(body "$WORK/r.json")"
st=$(revoke "$WORK/r.json" basic basic-client wrong-secret "no-such-token-$RANDOM")
[[ "$st" == 401 || "$st" == 400 ]]; check "revoke with wrong client secret is refused" $? "HTTP $st $(body "$WORK/r.json")"
v=$(verifier)
if get_code basic-client "$v"; then
  token "$WORK/t.json" basic basic-client basic-secret grant_type=authorization_code "code=$CODE" "redirect_uri=$CB" "code_verifier=$v" >/dev/null
  at=$(jget "$WORK/t.json" access_token)
  rt=$(jget "$WORK/t.json" refresh_token)
  st=$(revoke "$WORK/r.json" none basic-client "" "$rt")
  [[ "$st" == 401 || "$st" == 400 ]]; check "revoke without client auth for a confidential client is refused" $? "HTTP $st $(body "$WORK/r.json")"
  st=$(revoke "$WORK/r.json" post post-client post-secret "$rt")
  info "revoke another client's refresh token -> HTTP $st $(body "$WORK/r.json")"
  st=$(revoke "$WORK/r.json" basic basic-client basic-secret "$at" access_token)
  [[ "$st" == 200 ]]; check "revoke access token -> 200" $? "HTTP $st"
  st=$(resource "$WORK/res.json" "$at")
  [[ "$st" == 401 ]] && grep -qi '^www-authenticate: Bearer' "$WORK/res.json.hdr"
  check "revoked access token at /resource -> 401 + WWW-Authenticate: Bearer" $? "HTTP $st $(grep -i '^www-authenticate' "$WORK/res.json.hdr" | tr -d '\r')"
  st=$(token "$WORK/r2.json" basic basic-client basic-secret grant_type=refresh_token "refresh_token=$rt")
  info "refresh after revoking only the access token -> HTTP $st"
else
  fail "revocation: authorize" "$CALLBACK"
fi

# ---------------------------------------------------------------- resource edge cases
st=$(resource "$WORK/res.json" "")
[[ "$st" == 401 ]] && grep -qi '^www-authenticate: Bearer' "$WORK/res.json.hdr"
check "/resource without token -> 401 + WWW-Authenticate: Bearer" $? "HTTP $st $(grep -i '^www-authenticate' "$WORK/res.json.hdr" | tr -d '\r')"
st=$(resource "$WORK/res.json" "garbage-token")
[[ "$st" == 401 ]] && grep -qi '^www-authenticate: Bearer' "$WORK/res.json.hdr"
check "/resource with unknown token -> 401 + WWW-Authenticate: Bearer" $? "HTTP $st $(grep -i '^www-authenticate' "$WORK/res.json.hdr" | tr -d '\r')"

# ---------------------------------------------------------------- PKCE required for the public client
state="st-$RANDOM"
if authorize public-client "$state" ""; then
  info "public-client without PKCE -> callback error=$(qparam "$CALLBACK" error) ($(qparam "$CALLBACK" error_description))"
  [[ -n "$(qparam "$CALLBACK" error)" && -z "$(qparam "$CALLBACK" code)" ]]
  check "public-client without code_challenge is refused at /authorize" $? ""
else
  info "public-client without PKCE -> $CALLBACK"
  fail "public-client without code_challenge is refused at /authorize" "$CALLBACK"
fi

# ---------------------------------------------------------------- deny
st=$(consent_mode deny)
[[ "$st" == 200 ]]; check "POST /__control/consent deny" $? "HTTP $st"
state="st-$RANDOM"
if authorize post-client "$state" "$(challenge "$(verifier)")"; then
  [[ "$(qparam "$CALLBACK" error)" == access_denied && "$(qparam "$CALLBACK" state)" == "$state" && -z "$(qparam "$CALLBACK" code)" ]]
  check "deny -> callback error=access_denied with state" $? "$HOPS redirects; $CALLBACK"
else
  fail "deny -> callback" "$CALLBACK"
fi
st=$(consent_mode approve)
v=$(verifier)
get_code post-client "$v"
check "approve again -> code" $? "control HTTP $st"

# ---------------------------------------------------------------- stop
T0=$(now)
kill -TERM "$SERVER_PID"
EXITED=""
for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || { EXITED=1; break; }; sleep 0.1; done
if [[ -n "$EXITED" ]]; then
  wait "$SERVER_PID"; rc=$?
  [[ "$rc" == 0 ]]; check "SIGTERM -> clean exit" $? "exit $rc after $(elapsed "$T0" "$(now)")"
else
  fail "SIGTERM -> clean exit" "still running after 5 s"
fi
[[ "$(wc -l <"$WORK/stdout")" == 1 ]]; check "stdout held only the READY line" $? "$(wc -l <"$WORK/stdout") line(s)"
SERVER_PID=""

echo "$KIND: $PASSED passed, $FAILED failed"
((FAILED == 0))
