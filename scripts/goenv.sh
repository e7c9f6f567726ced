# Source this file to run the go tool directly (go build/test/run) with the cgo flags FAISS
# needs; the Makefile sets the same variables.   . scripts/goenv.sh
_lsrflow_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export LSRFLOW_CACHE="$_lsrflow_root/.cache"
export CGO_CFLAGS="-I$LSRFLOW_CACHE/faiss/include"
export CGO_LDFLAGS="-L$LSRFLOW_CACHE/faiss/lib -lfaiss_c /usr/lib/x86_64-linux-gnu/libfaiss.a -lopenblas -lgomp -lstdc++ -lm"
unset _lsrflow_root
