# State store: the native Merkle tree (sidechain/store/native/smt16.c), loaded by sidechain/store/tree.py
# with ctypes. Needs only a C compiler (no Python headers, no OpenSSL). Without it the store falls
# back to the pure-Python tree (same roots, much slower): `make install` builds it.
# Included by the top-level Makefile.

STORE_NATIVE_DIR := sidechain/store/native
STORE_NATIVE_SO := $(STORE_NATIVE_DIR)/_smt16.so
STORE_NATIVE_SRC := $(STORE_NATIVE_DIR)/smt16.c $(STORE_NATIVE_DIR)/sha256.c
STORE_NATIVE_HDR := $(STORE_NATIVE_DIR)/sha256.h
STORE_CC ?= $(or $(CC),cc)
STORE_CFLAGS := -O2 -Wall -Wextra -std=c11 -fPIC -shared -fvisibility=hidden

# For the install target: `install: ... $(INSTALL_EXTRA)`. Until the Makefile lists it, the rule
# below hooks the library into install directly (a prerequisite-only rule merges with install's).
INSTALL_EXTRA += $(STORE_NATIVE_SO)
install: $(STORE_NATIVE_SO)

.PHONY: store-native store-native-clean

store-native: $(STORE_NATIVE_SO)

# Built to a temporary name and renamed, so a running process never maps a half-written file.
$(STORE_NATIVE_SO): $(STORE_NATIVE_SRC) $(STORE_NATIVE_HDR) mk/store.mk
	$(STORE_CC) $(STORE_CFLAGS) -o $@.tmp $(STORE_NATIVE_SRC)
	@mv -f $@.tmp $@

store-native-clean:
	rm -f $(STORE_NATIVE_SO) $(STORE_NATIVE_SO).tmp

clean: store-native-clean
