/* The 16-ary sparse Merkle tree of sidechain.store in native memory (loaded with ctypes).
 *
 * Same shape and hashes as sidechain/store/smt.py (the reference is the pure-Python tree in tree.py):
 *   leaf:     sha256(0x00 || kh || vh)           kh = sha256(key), vh = sha256(value)
 *   internal: sha256(0x01 || c0 || ... || c15)   ci = child hash, 32 zero bytes for an empty slot
 * A position holds a leaf when exactly one key lies below it and its parent holds two or more;
 * an internal node when two or more do. The empty tree's root is 32 zero bytes.
 *
 * Versions without copies: the committed tree is never modified in place. A stage (one per slot)
 * applies a sorted batch of changes by path copying: every changed node is a new node, unchanged
 * subtrees are shared with the committed tree. Committing a stage frees the committed nodes it
 * superseded (and discards the other slot, which may share them); discarding frees the nodes it
 * created. So the committed tree, the block being finalized and an older version (for proofs) can
 * all be read at once.
 *
 * Every input from Python is bounds-checked; every function returns 0 or a negative SMT_E* code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

#define API __attribute__((visibility("default")))

#define SMT_ABI_VERSION 1
#define FANOUT 16
#define MAX_DEPTH 64
#define NSLOTS 2

enum { SMT_OK = 0, SMT_ENOMEM = -1, SMT_EINPUT = -2, SMT_EDUPLICATE = -3, SMT_ESTATE = -4, SMT_EINTERNAL = -5 };
enum { KIND_LEAF = 0, KIND_INNER = 1 };
#define OWNER_COMMITTED 0 /* else 1 + the slot of the stage that created the node */

typedef struct node {
    uint8_t hash[32];
    uint8_t kind;
    uint8_t owner;
    uint8_t nkids;   /* internal nodes: number of non-empty slots (1..16) */
    uint8_t pad0_;
    uint16_t bitmap; /* internal nodes: bit i set <=> slot i is non-empty */
    uint8_t pad1_[2];
} node_t;

typedef struct {
    node_t h;
    uint8_t kh[32];
    uint8_t vh[32];
} leaf_t;

/* An internal node is compact: the header, then nkids child pointers, then their nkids hashes, in
 * slot order. Keeping the child hashes inline makes rehashing a node read only the node itself (not
 * 16 children scattered over memory), and small nodes (most of the bottom level) stay small. */
typedef struct {
    node_t h;
} inner_t;

/* The child pointers start right after the header: 8-byte aligned, as every pool object is. */
_Static_assert(sizeof(inner_t) % 8 == 0, "inner_t header must keep the child pointers aligned");

static inline node_t **inner_kids(const inner_t *in) {
    return (node_t **)(void *)((char *)(uintptr_t)in + sizeof(inner_t));
}

static inline uint8_t *inner_hashes(const inner_t *in) {
    return (uint8_t *)(uintptr_t)in + sizeof(inner_t) + sizeof(node_t *) * in->h.nkids;
}

static inline size_t inner_size(int nkids) { return sizeof(inner_t) + (sizeof(node_t *) + 32) * (size_t)nkids; }

/* Index of slot `nib` among the non-empty slots, or -1 if it is empty. */
static inline int slot_index(uint16_t bitmap, int nib) {
    if (!(bitmap >> nib & 1)) return -1;
    return __builtin_popcount((unsigned)bitmap & ((1u << nib) - 1u));
}

/* A fixed-size object allocator: slabs carved in order, freed objects on a stack of pointers (kept
 * apart from the objects: freeing and reusing a cold object does not read it). */
typedef struct {
    size_t size;
    void **free_stack;
    size_t nfree, free_cap;
    char *cur;
    size_t cur_left;
    size_t next_slab;
    void **slabs;
    size_t nslabs, slabs_cap;
    size_t live;
    size_t bytes;
} pool_t;

typedef struct {
    node_t **v;
    size_t n, cap;
} vec_t;

/* One change (or one leaf to build): sorted by kh. `existing` reuses a committed leaf as is. */
typedef struct {
    uint8_t kh[32];
    uint8_t vh[32];
    leaf_t *existing;
    int del;
} item_t;

typedef struct {
    int active;
    node_t *root;
    vec_t created;  /* nodes this stage allocated: freed on discard, committed on commit */
    vec_t replaced; /* committed nodes the stage's tree no longer holds: freed on commit */
} stage_t;

typedef struct smt {
    node_t *root;
    stage_t stage[NSLOTS];
    pool_t leaves;
    pool_t inners[FANOUT + 1]; /* by number of children */
    item_t *load;
    size_t nload, load_cap;
    item_t *scratch;
    size_t scratch_cap;
    uint64_t hashes;
} smt_t;

typedef struct {
    smt_t *t;
    stage_t *st; /* NULL while bulk loading: nodes are committed directly */
    uint8_t owner;
    int err;
} ctx_t;

/* --- allocation ------------------------------------------------------------------------------ */

static void pool_init(pool_t *p, size_t size) {
    memset(p, 0, sizeof *p);
    p->size = (size + 7) & ~(size_t)7;
    p->next_slab = 256;
}

static void *pool_alloc(pool_t *p) {
    void *obj;
    if (p->nfree) {
        obj = p->free_stack[--p->nfree];
    } else {
        if (p->cur_left == 0) {
            if (p->nslabs == p->slabs_cap) {
                size_t cap = p->slabs_cap ? 2 * p->slabs_cap : 16;
                void **s = realloc(p->slabs, cap * sizeof *s);
                if (!s) return NULL;
                p->slabs = s;
                p->slabs_cap = cap;
            }
            char *slab = malloc(p->next_slab * p->size);
            if (!slab) return NULL;
            p->slabs[p->nslabs++] = slab;
            p->cur = slab;
            p->cur_left = p->next_slab;
            p->bytes += p->next_slab * p->size;
            if (p->next_slab < 65536) p->next_slab *= 2;
        }
        obj = p->cur;
        p->cur += p->size;
        p->cur_left--;
    }
    p->live++;
    return obj;
}

/* Returns -1 (and keeps nothing) if the free stack cannot grow; the object then stays allocated. */
static int pool_free(pool_t *p, void *obj) {
    if (p->nfree == p->free_cap) {
        size_t cap = p->free_cap ? 2 * p->free_cap : 256;
        void **fs = realloc(p->free_stack, cap * sizeof *fs);
        if (!fs) return -1;
        p->free_stack = fs;
        p->free_cap = cap;
    }
    p->free_stack[p->nfree++] = obj;
    p->live--;
    return 0;
}

static void pool_destroy(pool_t *p) {
    for (size_t i = 0; i < p->nslabs; i++) free(p->slabs[i]);
    free(p->slabs);
    free(p->free_stack);
    memset(p, 0, sizeof *p);
}

static int vec_push(vec_t *v, node_t *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        node_t **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return -1;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

/* A node nothing refers to any more. Should the free stack fail to grow, the node just leaks. */
static void node_free(smt_t *t, node_t *n) {
    if (n->kind == KIND_LEAF)
        (void)pool_free(&t->leaves, n);
    else
        (void)pool_free(&t->inners[n->nkids], n);
}

/* --- hashing ----------------------------------------------------------------------------------- */

static void hash_leaf(smt_t *t, leaf_t *l) {
    uint8_t buf[65];
    buf[0] = 0x00;
    memcpy(buf + 1, l->kh, 32);
    memcpy(buf + 33, l->vh, 32);
    smt16_sha256(buf, sizeof buf, l->h.hash);
    t->hashes++;
}

static void hash_inner(smt_t *t, inner_t *in) {
    uint8_t buf[1 + 32 * FANOUT];
    memset(buf, 0, sizeof buf);
    buf[0] = 0x01;
    const uint8_t *h = inner_hashes(in);
    for (int i = 0, k = 0; i < FANOUT; i++)
        if (in->h.bitmap >> i & 1) memcpy(buf + 1 + 32 * i, h + 32 * k++, 32);
    smt16_sha256(buf, sizeof buf, in->h.hash);
    t->hashes++;
}

static inline int nibble(const uint8_t kh[32], int depth) {
    uint8_t b = kh[depth >> 1];
    return (depth & 1) ? (b & 15) : (b >> 4);
}

/* --- node creation in a context (a stage, or the bulk load) ------------------------------------ */

static int track(ctx_t *c, node_t *n) {
    n->owner = c->owner;
    if (c->st && vec_push(&c->st->created, n)) {
        node_free(c->t, n);
        c->err = SMT_ENOMEM;
        return -1;
    }
    return 0;
}

static node_t *new_leaf(ctx_t *c, const uint8_t kh[32], const uint8_t vh[32]) {
    leaf_t *l = pool_alloc(&c->t->leaves);
    if (!l) {
        c->err = SMT_ENOMEM;
        return NULL;
    }
    l->h.kind = KIND_LEAF;
    memcpy(l->kh, kh, 32);
    memcpy(l->vh, vh, 32);
    hash_leaf(c->t, l);
    if (track(c, &l->h)) return NULL;
    return &l->h;
}

/* A new internal node over kids[16] (NULL: empty slot) whose hashes are hashes[16][32]. */
static node_t *new_inner(ctx_t *c, node_t *const kids[FANOUT], const uint8_t hashes[FANOUT][32]) {
    uint16_t bitmap = 0;
    int n = 0;
    for (int i = 0; i < FANOUT; i++) {
        if (kids[i]) {
            bitmap |= (uint16_t)(1u << i);
            n++;
        }
    }
    if (n == 0) {
        c->err = SMT_EINTERNAL;
        return NULL;
    }
    inner_t *in = pool_alloc(&c->t->inners[n]);
    if (!in) {
        c->err = SMT_ENOMEM;
        return NULL;
    }
    in->h.kind = KIND_INNER;
    in->h.nkids = (uint8_t)n;
    in->h.bitmap = bitmap;
    node_t **ik = inner_kids(in);
    uint8_t *ih = inner_hashes(in);
    for (int i = 0, k = 0; i < FANOUT; i++) {
        if (kids[i]) {
            ik[k] = kids[i];
            memcpy(ih + 32 * k, hashes[i], 32);
            k++;
        }
    }
    hash_inner(c->t, in);
    if (track(c, &in->h)) return NULL;
    return &in->h;
}

/* A committed node the new tree no longer holds. */
static void supersede(ctx_t *c, node_t *n) {
    if (n->owner != OWNER_COMMITTED) {
        c->err = SMT_EINTERNAL; /* a stage never revisits a node it created */
        return;
    }
    if (c->st && vec_push(&c->st->replaced, n)) c->err = SMT_ENOMEM;
}

/* A fresh subtree at `depth` from items[0..n) (sorted by kh, distinct, none deleted). */
static node_t *build(ctx_t *c, int depth, const item_t *items, size_t n) {
    if (n == 0 || c->err) return NULL;
    if (n == 1) {
        if (items[0].existing) return &items[0].existing->h;
        return new_leaf(c, items[0].kh, items[0].vh);
    }
    if (depth >= MAX_DEPTH) {
        c->err = SMT_EDUPLICATE;
        return NULL;
    }
    node_t *kids[FANOUT] = {0};
    uint8_t hashes[FANOUT][32];
    size_t i = 0;
    while (i < n) {
        int nib = nibble(items[i].kh, depth);
        size_t j = i + 1;
        while (j < n && nibble(items[j].kh, depth) == nib) j++;
        kids[nib] = build(c, depth + 1, items + i, j - i);
        if (c->err) return NULL;
        memcpy(hashes[nib], kids[nib]->hash, 32);
        i = j;
    }
    return new_inner(c, kids, (const uint8_t(*)[32])hashes);
}

static int ensure_scratch(smt_t *t, size_t n) {
    if (t->scratch_cap >= n) return 0;
    size_t cap = t->scratch_cap ? t->scratch_cap : 64;
    while (cap < n) cap *= 2;
    item_t *s = realloc(t->scratch, cap * sizeof *s);
    if (!s) return -1;
    t->scratch = s;
    t->scratch_cap = cap;
    return 0;
}

/* The new node at `depth` after applying items[0..n) (all below this position) to `node`.
 * Returns `node` itself when nothing changed. */
static node_t *update(ctx_t *c, node_t *node, int depth, const item_t *items, size_t n) {
    if (c->err) return node;
    if (node == NULL || node->kind == KIND_LEAF) {
        /* Merge the old leaf (if any) with the items into the sorted live set, then build. The
         * scratch buffer is free here: build() never comes back into update(). */
        leaf_t *old = (leaf_t *)node;
        if (ensure_scratch(c->t, n + 1)) {
            c->err = SMT_ENOMEM;
            return node;
        }
        item_t *live = c->t->scratch;
        size_t m = 0;
        int placed = old == NULL;
        int changed = 0;
        for (size_t i = 0; i < n; i++) {
            const item_t *it = &items[i];
            int cmp = placed ? 1 : memcmp(old->kh, it->kh, 32);
            if (cmp < 0) {
                memcpy(live[m].kh, old->kh, 32);
                live[m].existing = old;
                live[m].del = 0;
                m++;
                placed = 1;
            }
            if (cmp == 0) {
                placed = 1;
                if (!it->del && memcmp(old->vh, it->vh, 32) == 0) {
                    memcpy(live[m].kh, old->kh, 32);
                    live[m].existing = old;
                    live[m].del = 0;
                    m++;
                    continue;
                }
                changed = 1;
                supersede(c, &old->h);
                if (it->del) continue;
            } else if (it->del) {
                continue; /* deleting an absent key */
            }
            changed = 1;
            memcpy(live[m].kh, it->kh, 32);
            memcpy(live[m].vh, it->vh, 32);
            live[m].existing = NULL;
            live[m].del = 0;
            m++;
        }
        if (!placed) {
            memcpy(live[m].kh, old->kh, 32);
            live[m].existing = old;
            live[m].del = 0;
            m++;
        }
        if (!changed || c->err) return node;
        return build(c, depth, live, m);
    }

    if (depth >= MAX_DEPTH) {
        c->err = SMT_EINTERNAL;
        return node;
    }
    inner_t *in = (inner_t *)node;
    node_t *kids[FANOUT] = {0};
    uint8_t hashes[FANOUT][32];
    {
        node_t **ik = inner_kids(in);
        const uint8_t *ih = inner_hashes(in);
        for (int k = 0, x = 0; k < FANOUT; k++) {
            if (in->h.bitmap >> k & 1) {
                kids[k] = ik[x];
                memcpy(hashes[k], ih + 32 * x, 32);
                x++;
            }
        }
    }
    int changed = 0;
    size_t i = 0;
    while (i < n) {
        int nib = nibble(items[i].kh, depth);
        size_t j = i + 1;
        while (j < n && nibble(items[j].kh, depth) == nib) j++;
        node_t *kid = update(c, kids[nib], depth + 1, items + i, j - i);
        if (c->err) return node;
        if (kid != kids[nib]) {
            kids[nib] = kid;
            if (kid) memcpy(hashes[nib], kid->hash, 32);
            changed = 1;
        }
        i = j;
    }
    if (!changed) return node;
    supersede(c, node);
    if (c->err) return node;
    int live = 0, last = -1;
    for (int k = 0; k < FANOUT; k++) {
        if (kids[k]) {
            live++;
            last = k;
        }
    }
    if (live == 0) return NULL;
    if (live == 1 && kids[last]->kind == KIND_LEAF) return kids[last]; /* a lone leaf moves up */
    return new_inner(c, kids, (const uint8_t(*)[32])hashes);
}

/* Walk every item's path level by level, prefetching each node one level ahead: the nodes of ~2,000
 * random paths are scattered over the whole tree, and visiting them depth first (update) would wait
 * for each cache miss in turn; here the misses of one level overlap. `cur` has room for n pointers. */
static void prefetch_paths(const node_t *root, const item_t *items, size_t n, const node_t **cur) {
    if (!root) return;
    for (size_t i = 0; i < n; i++) cur[i] = root;
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        int more = 0;
        for (size_t i = 0; i < n; i++) {
            const node_t *x = cur[i];
            if (!x) continue;
            if (x->kind != KIND_INNER) {
                cur[i] = NULL;
                continue;
            }
            const inner_t *in = (const inner_t *)x;
            /* The rest of this node (its child hashes, copied when it is rebuilt). */
            size_t size = inner_size(in->h.nkids);
            for (size_t off = 192; off < size; off += 64) __builtin_prefetch((const char *)x + off);
            int idx = slot_index(in->h.bitmap, nibble(items[i].kh, depth));
            const node_t *next = idx < 0 ? NULL : inner_kids(in)[idx];
            cur[i] = next;
            if (next) {
                __builtin_prefetch(next);
                __builtin_prefetch((const char *)next + 64);
                __builtin_prefetch((const char *)next + 128);
                more = 1;
            }
        }
        if (!more) break;
    }
}

/* --- input decoding ---------------------------------------------------------------------------- */

static int cmp_items(const void *a, const void *b) { return memcmp(a, b, 32); }

/* Sort by kh: a counting sort on the first two bytes (sha256 output is uniform), then each bucket. */
static int sort_items(item_t *items, size_t n) {
    if (n < 2) return 0;
    if (n < 4096) {
        qsort(items, n, sizeof *items, cmp_items);
        return 0;
    }
    size_t *count = calloc(65537, sizeof *count);
    item_t *tmp = malloc(n * sizeof *tmp);
    if (!count || !tmp) {
        free(count);
        free(tmp);
        return -1;
    }
    for (size_t i = 0; i < n; i++) count[((size_t)items[i].kh[0] << 8 | items[i].kh[1]) + 1]++;
    for (size_t b = 1; b <= 65536; b++) count[b] += count[b - 1];
    for (size_t i = 0; i < n; i++) tmp[count[(size_t)items[i].kh[0] << 8 | items[i].kh[1]]++] = items[i];
    /* count[b] is now the end of bucket b (and the start of bucket b+1). */
    size_t start = 0;
    for (size_t b = 0; b < 65536; b++) {
        size_t end = count[b];
        if (end - start > 1) qsort(tmp + start, end - start, sizeof *tmp, cmp_items);
        start = end;
    }
    memcpy(items, tmp, n * sizeof *tmp);
    free(tmp);
    free(count);
    return 0;
}

static int has_duplicates(const item_t *items, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (memcmp(items[i - 1].kh, items[i].kh, 32) == 0) return 1;
    return 0;
}

/* Hash n (key, value) pairs into out[0..n). keys: concatenated, klens[i] bytes each, of which the
 * first `kskip` are not part of the key; vals likewise, vlens[i] < 0 meaning "delete". */
static int decode_pairs(smt_t *t, item_t *out, size_t n, const uint8_t *keys, size_t keys_len,
                        const uint32_t *klens, size_t kskip, const uint8_t *vals, size_t vals_len,
                        const int64_t *vlens) {
    size_t kpos = 0, vpos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t kl = klens[i];
        if (kl < kskip || kl > keys_len - kpos) return SMT_EINPUT;
        smt16_sha256(keys + kpos + kskip, kl - kskip, out[i].kh);
        kpos += kl;
        out[i].existing = NULL;
        if (vlens[i] < 0) {
            if (vlens[i] != -1) return SMT_EINPUT;
            out[i].del = 1;
            memset(out[i].vh, 0, 32);
        } else {
            if ((uint64_t)vlens[i] > vals_len - vpos) return SMT_EINPUT;
            size_t vl = (size_t)vlens[i];
            smt16_sha256(vals + vpos, vl, out[i].vh);
            vpos += vl;
            out[i].del = 0;
        }
        t->hashes += 2;
    }
    if (kpos != keys_len || vpos != vals_len) return SMT_EINPUT;
    return SMT_OK;
}

/* --- stages -------------------------------------------------------------------------------------- */

static void stage_discard(smt_t *t, stage_t *st) {
    for (size_t i = 0; i < st->created.n; i++) node_free(t, st->created.v[i]);
    st->created.n = 0;
    st->replaced.n = 0;
    st->root = NULL;
    st->active = 0;
}

static void copy_hash(const node_t *n, uint8_t out[32]) {
    if (n)
        memcpy(out, n->hash, 32);
    else
        memset(out, 0, 32);
}

/* --- API ------------------------------------------------------------------------------------------ */

API int smt_abi_version(void) { return SMT_ABI_VERSION; }

API smt_t *smt_new(void) {
    smt_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    pool_init(&t->leaves, sizeof(leaf_t));
    for (int k = 1; k <= FANOUT; k++) pool_init(&t->inners[k], inner_size(k));
    return t;
}

API void smt_free(smt_t *t) {
    if (!t) return;
    for (int s = 0; s < NSLOTS; s++) {
        free(t->stage[s].created.v);
        free(t->stage[s].replaced.v);
    }
    pool_destroy(&t->leaves);
    for (int k = 1; k <= FANOUT; k++) pool_destroy(&t->inners[k]);
    free(t->load);
    free(t->scratch);
    free(t);
}

/* Bulk load, step 1 (repeatable): hash n (key, value) pairs into the load buffer. Only on an empty tree. */
API int smt_load_add(smt_t *t, const uint8_t *keys, size_t keys_len, const uint32_t *klens, size_t kskip,
                     const uint8_t *vals, size_t vals_len, const int64_t *vlens, size_t n) {
    if (!t || t->root || t->stage[0].active || t->stage[1].active) return SMT_ESTATE;
    if (n == 0) return keys_len == 0 && vals_len == 0 ? SMT_OK : SMT_EINPUT;
    if (!keys || !klens || !vals || !vlens) return SMT_EINPUT;
    if (n > ((size_t)-1) / sizeof(item_t) - t->nload) return SMT_EINPUT;
    if (t->nload + n > t->load_cap) {
        size_t cap = t->load_cap ? t->load_cap : 1024;
        while (cap < t->nload + n) cap *= 2;
        item_t *l = realloc(t->load, cap * sizeof *l);
        if (!l) return SMT_ENOMEM;
        t->load = l;
        t->load_cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        if (vlens[i] < 0) return SMT_EINPUT;
    int rc = decode_pairs(t, t->load + t->nload, n, keys, keys_len, klens, kskip, vals, vals_len, vlens);
    if (rc) return rc;
    t->nload += n;
    return SMT_OK;
}

/* Bulk load, step 2: build the committed tree from everything added; root_out gets its hash. */
API int smt_load_finish(smt_t *t, uint8_t *root_out) {
    if (!t || !root_out || t->root || t->stage[0].active || t->stage[1].active) return SMT_ESTATE;
    int rc = SMT_OK;
    if (sort_items(t->load, t->nload)) {
        rc = SMT_ENOMEM;
    } else if (has_duplicates(t->load, t->nload)) {
        rc = SMT_EDUPLICATE;
    } else {
        ctx_t c = {t, NULL, OWNER_COMMITTED, 0};
        node_t *root = build(&c, 0, t->load, t->nload);
        if (c.err) {
            /* Nothing else lives in the pools yet: drop them whole. */
            pool_destroy(&t->leaves);
            pool_init(&t->leaves, sizeof(leaf_t));
            for (int k = 1; k <= FANOUT; k++) {
                pool_destroy(&t->inners[k]);
                pool_init(&t->inners[k], inner_size(k));
            }
            rc = c.err;
        } else {
            t->root = root;
        }
    }
    free(t->load);
    t->load = NULL;
    t->nload = t->load_cap = 0;
    copy_hash(t->root, root_out);
    return rc;
}

/* Stage `slot` := the committed tree with n changes applied (any previous stage of the slot is
 * discarded). vlens[i] == -1 deletes key i. Keys must be distinct. root_out gets the new root. */
API int smt_stage(smt_t *t, int slot, const uint8_t *keys, size_t keys_len, const uint32_t *klens,
                  const uint8_t *vals, size_t vals_len, const int64_t *vlens, size_t n, uint8_t *root_out) {
    if (!t || !root_out || slot < 0 || slot >= NSLOTS) return SMT_EINPUT;
    if (n > 0 && (!keys || !klens || !vals || !vlens)) return SMT_EINPUT;
    if (n > ((size_t)-1) / sizeof(item_t)) return SMT_EINPUT;
    stage_t *st = &t->stage[slot];
    if (st->active) stage_discard(t, st);
    item_t *items = n ? malloc(n * sizeof *items) : NULL;
    if (n && !items) return SMT_ENOMEM;
    int rc = decode_pairs(t, items, n, keys, keys_len, klens, 0, vals, vals_len, vlens);
    if (!rc && sort_items(items, n)) rc = SMT_ENOMEM;
    if (!rc && has_duplicates(items, n)) rc = SMT_EDUPLICATE;
    if (rc) {
        free(items);
        return rc;
    }
    if (n > 64) {
        const node_t **cur = malloc(n * sizeof *cur);
        if (cur) {
            prefetch_paths(t->root, items, n, cur);
            free(cur);
        }
    }
    ctx_t c = {t, st, (uint8_t)(1 + slot), 0};
    node_t *root = n ? update(&c, t->root, 0, items, n) : t->root;
    free(items);
    if (c.err) {
        stage_discard(t, st);
        return c.err;
    }
    st->active = 1;
    st->root = root;
    copy_hash(root, root_out);
    return SMT_OK;
}

/* The stage of `slot` becomes the committed tree; the other slot is discarded. */
API int smt_commit(smt_t *t, int slot) {
    if (!t || slot < 0 || slot >= NSLOTS) return SMT_EINPUT;
    stage_t *st = &t->stage[slot];
    if (!st->active) return SMT_ESTATE;
    for (int s = 0; s < NSLOTS; s++)
        if (s != slot && t->stage[s].active) stage_discard(t, &t->stage[s]);
    for (size_t i = 0; i < st->replaced.n; i++) node_free(t, st->replaced.v[i]);
    for (size_t i = 0; i < st->created.n; i++) st->created.v[i]->owner = OWNER_COMMITTED;
    st->created.n = 0;
    st->replaced.n = 0;
    t->root = st->root;
    st->root = NULL;
    st->active = 0;
    return SMT_OK;
}

API int smt_discard(smt_t *t, int slot) {
    if (!t || slot < 0 || slot >= NSLOTS) return SMT_EINPUT;
    if (t->stage[slot].active) stage_discard(t, &t->stage[slot]);
    return SMT_OK;
}

/* The root of the committed tree (slot -1) or of an active stage. */
API int smt_root(const smt_t *t, int slot, uint8_t *root_out) {
    if (!t || !root_out || slot < -1 || slot >= NSLOTS) return SMT_EINPUT;
    if (slot >= 0 && !t->stage[slot].active) return SMT_ESTATE;
    copy_hash(slot < 0 ? t->root : t->stage[slot].root, root_out);
    return SMT_OK;
}

/* The path of kh from the root (slot -1: committed tree): levels_out gets 16 child hashes (512 bytes)
 * per internal node on the path, up to `max_levels`; *depth_out their number; terminal_out 65 bytes:
 * 0x00 (empty slot) or 0x01 kh vh (a leaf). */
API int smt_path(const smt_t *t, int slot, const uint8_t *kh, uint8_t *levels_out, size_t max_levels,
                 size_t *depth_out, uint8_t *terminal_out) {
    if (!t || !kh || !levels_out || !depth_out || !terminal_out || slot < -1 || slot >= NSLOTS)
        return SMT_EINPUT;
    if (slot >= 0 && !t->stage[slot].active) return SMT_ESTATE;
    const node_t *n = slot < 0 ? t->root : t->stage[slot].root;
    size_t depth = 0;
    memset(terminal_out, 0, 65);
    while (n && n->kind == KIND_INNER) {
        if (depth >= max_levels || depth >= MAX_DEPTH) return SMT_EINPUT;
        const inner_t *in = (const inner_t *)n;
        const uint8_t *ih = inner_hashes(in);
        uint8_t *level = levels_out + 512 * depth;
        memset(level, 0, 512);
        for (int i = 0, k = 0; i < FANOUT; i++)
            if (in->h.bitmap >> i & 1) memcpy(level + 32 * i, ih + 32 * k++, 32);
        int idx = slot_index(in->h.bitmap, nibble(kh, (int)depth));
        n = idx < 0 ? NULL : inner_kids(in)[idx];
        depth++;
    }
    if (n) {
        const leaf_t *l = (const leaf_t *)n;
        terminal_out[0] = 1;
        memcpy(terminal_out + 1, l->kh, 32);
        memcpy(terminal_out + 33, l->vh, 32);
    }
    *depth_out = depth;
    return SMT_OK;
}

/* out[0] hashes computed, [1] live leaves, [2] live internal nodes, [3] bytes in node slabs. */
API int smt_stats(const smt_t *t, uint64_t *out) {
    if (!t || !out) return SMT_EINPUT;
    out[0] = t->hashes;
    out[1] = t->leaves.live;
    out[2] = 0;
    out[3] = t->leaves.bytes;
    for (int k = 1; k <= FANOUT; k++) {
        out[2] += t->inners[k].live;
        out[3] += t->inners[k].bytes;
    }
    return SMT_OK;
}

API void smt_sha256(const uint8_t *data, size_t len, uint8_t *out) { smt16_sha256(data, len, out); }

API int smt_sha256_impl(int mode) { return smt16_sha256_impl(mode); }
