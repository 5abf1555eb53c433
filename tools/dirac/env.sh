# Environment of a one-host DIRAC started by tools/dirac/start.sh. Source it:
#   source tools/dirac/env.sh STATE           # a client: dirac-* commands, the user's proxy
#   source tools/dirac/env.sh STATE server    # (start.sh) services: the host certificate
#   source tools/dirac/env.sh STATE pilot     # (start.sh) the JobAgent
# As a client, DIRAC's bin directory goes at the END of PATH: dirac-* commands are found,
# while `python3` stays the workflow's (showerflow finds DIRAC's Python beside
# dirac-proxy-info, or in $SHOWERFLOW_DIRAC_PYTHON, set here).
SHOWERFLOW_DIRAC_STATE=$(cd "${1:?usage: source env.sh STATE [client|server|pilot]}" && pwd)
_role=${2:-client}
_venv=${SHOWERFLOW_DIRAC_VENV:-$(cat "$SHOWERFLOW_DIRAC_STATE/venv.path" 2>/dev/null || echo "$SHOWERFLOW_DIRAC_STATE/venv")}
export SHOWERFLOW_DIRAC_STATE
export SHOWERFLOW_DIRAC_PYTHON=$_venv/bin/python3
export X509_CERT_DIR=$SHOWERFLOW_DIRAC_STATE/etc/grid-security/certificates
export X509_VOMS_DIR=$SHOWERFLOW_DIRAC_STATE/etc/grid-security/vomsdir
export X509_VOMSES=$SHOWERFLOW_DIRAC_STATE/etc/grid-security/vomses
_etc=$SHOWERFLOW_DIRAC_STATE/etc
case "$_role" in
  server)
    export PATH=$_venv/bin:$PATH
    export DIRAC_ROOT_PATH=$SHOWERFLOW_DIRAC_STATE
    export DIRACSYSCONFIG=$_etc/server.cfg,$_etc/common.cfg,$_etc/systems.cfg
    ;;
  pilot)
    # the JobAgent runs with the host certificate; each payload gets its owner's proxy
    # from the ProxyManager
    export PATH=$_venv/bin:$PATH
    export DIRAC_ROOT_PATH=$SHOWERFLOW_DIRAC_STATE
    export DIRACSYSCONFIG=$_etc/common.cfg,$_etc/systems.cfg
    unset X509_USER_PROXY
    ;;
  *)
    case ":$PATH:" in *":$_venv/bin:"*) ;; *) export PATH=$PATH:$_venv/bin ;; esac
    export DIRAC_ROOT_PATH=$SHOWERFLOW_DIRAC_STATE/client
    export DIRACSYSCONFIG=$SHOWERFLOW_DIRAC_STATE/client/etc/client.cfg,$_etc/common.cfg,$_etc/systems.cfg
    export X509_USER_PROXY=$SHOWERFLOW_DIRAC_STATE/client/proxy.pem
    ;;
esac
unset _role _venv _etc
