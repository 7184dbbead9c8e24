/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "fileio.h"
#include "log.h"
#include "openssl-util.h"
#include "verity-hash.h"

/* veritysetup's superblock, little endian, 512 bytes. */
struct verity_sb {
        uint8_t signature[8]; /* "verity\0\0" */
        uint32_t version;     /* 1 */
        uint32_t hash_type;   /* 1: salt before data */
        uint8_t uuid[16];
        uint8_t algorithm[32];
        uint32_t data_block_size;
        uint32_t hash_block_size;
        uint64_t data_blocks;
        uint16_t salt_size;
        uint8_t _pad1[6];
        uint8_t salt[256];
        uint8_t _pad2[168];
} __attribute__((packed));

_Static_assert(sizeof(struct verity_sb) == VERITY_SUPERBLOCK_SIZE, "superblock size");

#define BATCH_SIZE (2U * 1024U * 1024U)
/* Data handed over in one large piece is hashed in larger steps without a copy: fewer
 * hand-overs between threads. */
#define DIRECT_SIZE (32U * 1024U * 1024U)

typedef struct VerityLayout {
        unsigned levels;
        unsigned per_block;     /* digests per hash block, a power of two */
        size_t digest_size;
        uint64_t data_blocks;
        uint64_t level_blocks[VERITY_MAX_LEVELS];
        uint64_t level_pos[VERITY_MAX_LEVELS]; /* in hash blocks from the start of the tree file */
        uint64_t tree_blocks;
} VerityLayout;

static bool is_pow2_in(uint32_t v, uint32_t lo, uint32_t hi) {
        return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

static size_t digest_size_of(const char *name) {
        if (strcmp(name, "sha256") == 0)
                return 32;
        if (strcmp(name, "sha512") == 0)
                return 64;
        return 0;
}

size_t verity_digest_size(const VerityParams *p) {
        return digest_size_of(p->hash_name);
}

static int layout_compute(const VerityParams *p, VerityLayout *ret) {
        VerityLayout l = {};
        uint64_t pos;
        unsigned bits = 0;

        l.digest_size = digest_size_of(p->hash_name);
        if (l.digest_size == 0)
                return -EINVAL;
        if (!is_pow2_in(p->data_block_size, VERITY_MIN_BLOCK_SIZE, VERITY_MAX_BLOCK_SIZE) ||
            !is_pow2_in(p->hash_block_size, VERITY_MIN_BLOCK_SIZE, VERITY_MAX_BLOCK_SIZE))
                return -EINVAL;
        if (p->hash_block_size < l.digest_size * 2 || p->salt_size > VERITY_MAX_SALT_SIZE)
                return -EINVAL;
        if (p->data_size == 0 || p->data_size % p->data_block_size != 0)
                return -EINVAL;

        while ((1U << (bits + 1)) * l.digest_size <= p->hash_block_size)
                bits++;
        l.per_block = 1U << bits;
        l.data_blocks = p->data_size / p->data_block_size;

        /* Same level arithmetic as veritysetup: enough levels that one block covers everything. */
        while (bits * l.levels < 64 && ((l.data_blocks - 1) >> (bits * l.levels)) != 0)
                l.levels++;
        if (l.levels > VERITY_MAX_LEVELS)
                return -EOVERFLOW;

        /* The superblock occupies the first hash block(s). */
        pos = (VERITY_SUPERBLOCK_SIZE + p->hash_block_size - 1) / p->hash_block_size;
        for (int i = (int) l.levels - 1; i >= 0; i--) {
                unsigned shift = (unsigned) (i + 1) * bits;
                uint64_t s;

                if (shift >= 64)
                        s = 1;
                else
                        s = (l.data_blocks >> shift) + ((l.data_blocks & ((UINT64_C(1) << shift) - 1)) != 0);
                l.level_blocks[i] = s;
                l.level_pos[i] = pos;
                if (__builtin_add_overflow(pos, s, &pos))
                        return -EOVERFLOW;
        }
        l.tree_blocks = pos;
        {
                uint64_t bytes;
                if (__builtin_mul_overflow(pos, (uint64_t) p->hash_block_size, &bytes))
                        return -EOVERFLOW;
        }
        *ret = l;
        return 0;
}

int verity_params_check(const VerityParams *p, uint64_t *ret_tree_size) {
        VerityLayout l;
        int r;

        r = layout_compute(p, &l);
        if (r < 0)
                return r;
        if (ret_tree_size)
                *ret_tree_size = l.tree_blocks * p->hash_block_size;
        return 0;
}

int verity_params_check_page_size(const VerityParams *p, size_t page_size) {
        /* drivers/md/dm-verity-target.c: a data block is a power of two from the device's logical
         * block size (512 for a loop device) to PAGE_SIZE. Hash blocks may be larger on the kernel's
         * side; we hold them to the same bound, as veritysetup's default does. */
        if (p->data_block_size > page_size)
                return log_debug_errno(EOPNOTSUPP,
                                       "dm-verity data block size %u is larger than the page size %zu: the kernel's dm-verity "
                                       "accepts data blocks only from 512 bytes up to the page size.",
                                       p->data_block_size, page_size);
        if (p->hash_block_size > page_size)
                return log_debug_errno(EOPNOTSUPP,
                                       "dm-verity hash block size %u is larger than the page size %zu: block sizes must be "
                                       "from 512 bytes up to the page size.",
                                       p->hash_block_size, page_size);
        if (p->data_block_size < VERITY_MIN_BLOCK_SIZE || p->hash_block_size < VERITY_MIN_BLOCK_SIZE)
                return log_debug_errno(EOPNOTSUPP, "dm-verity block sizes must be at least 512 bytes.");
        return 0;
}

unsigned verity_default_threads(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        if (n < 1)
                return 1;
        return (unsigned) MIN(n, 8);
}

static int hash_salted(EVP_MD_CTX *ctx, const EVP_MD *md, const VerityParams *p, const void *data, size_t len,
                       uint8_t *out) {
        if (EVP_DigestInit_ex2(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, p->salt, p->salt_size) != 1 ||
            EVP_DigestUpdate(ctx, data, len) != 1 || EVP_DigestFinal_ex(ctx, out, NULL) != 1)
                return log_debug_errno(EIO, "SHA computation failed: %s", openssl_last_error());
        return 0;
}

static int superblock_build(const VerityParams *p, const VerityLayout *l, struct verity_sb *sb) {
        memset(sb, 0, sizeof *sb);
        memcpy(sb->signature, "verity\0\0", 8);
        sb->version = htole32(1);
        sb->hash_type = htole32(1);
        if (p->has_uuid)
                memcpy(sb->uuid, p->uuid, sizeof sb->uuid);
        else {
                if (RAND_bytes(sb->uuid, sizeof sb->uuid) != 1)
                        return -EIO;
                /* Make it a valid version-4 UUID, as veritysetup does. */
                sb->uuid[6] = (sb->uuid[6] & 0x0f) | 0x40;
                sb->uuid[8] = (sb->uuid[8] & 0x3f) | 0x80;
        }
        memcpy(sb->algorithm, p->hash_name, strnlen(p->hash_name, sizeof sb->algorithm - 1));
        sb->data_block_size = htole32(p->data_block_size);
        sb->hash_block_size = htole32(p->hash_block_size);
        sb->data_blocks = htole64(l->data_blocks);
        sb->salt_size = htole16((uint16_t) p->salt_size);
        memcpy(sb->salt, p->salt, p->salt_size);
        return 0;
}

/* An algorithm name from the superblock, fit to be printed. */
static const char *printable_name(const char *s, char *buf, size_t size) {
        size_t n = 0;

        for (; *s && n + 1 < size; s++)
                buf[n++] = *s >= 0x21 && *s < 0x7f ? *s : '?';
        buf[n] = 0;
        return buf;
}

int verity_superblock_parse(const void *buf, size_t len, VerityParams *ret) {
        const struct verity_sb *sb = buf;
        VerityParams p = {};
        char name[sizeof sb->algorithm + 1], shown[sizeof sb->algorithm + 1];
        uint32_t version, hash_type;
        uint64_t blocks;
        size_t ds;

        if (len < sizeof *sb || memcmp(sb->signature, "verity\0\0", 8) != 0)
                return log_debug_errno(EBADMSG, "no veritysetup superblock (a tree made with --no-superblock, or no tree at all).");
        version = le32toh(sb->version);
        if (version != 1)
                return log_debug_errno(EBADMSG, "verity superblock version %" PRIu32 " is not supported: only version 1.",
                                       version);
        hash_type = le32toh(sb->hash_type);
        if (hash_type == 0)
                return log_debug_errno(EBADMSG, "hash tree format 0 (Chrome OS, salt after the data) is not supported: "
                                                "only format 1 (veritysetup's default).");
        if (hash_type != 1)
                return log_debug_errno(EBADMSG, "hash tree format %" PRIu32 " is unknown: only format 1 is supported.",
                                       hash_type);

        memcpy(name, sb->algorithm, sizeof sb->algorithm);
        name[sizeof sb->algorithm] = 0;
        ds = digest_size_of(name);
        if (ds == 0)
                return log_debug_errno(EBADMSG, "hash algorithm \"%s\" is not supported: only " VERITY_SUPPORTED_HASHES ".",
                                       printable_name(name, shown, sizeof shown));
        strcpy(p.hash_name, name);

        p.data_block_size = le32toh(sb->data_block_size);
        p.hash_block_size = le32toh(sb->hash_block_size);
        if (!is_pow2_in(p.data_block_size, VERITY_MIN_BLOCK_SIZE, VERITY_MAX_BLOCK_SIZE) ||
            !is_pow2_in(p.hash_block_size, VERITY_MIN_BLOCK_SIZE, VERITY_MAX_BLOCK_SIZE))
                return log_debug_errno(EBADMSG, "verity block sizes %" PRIu32 "/%" PRIu32 " are not powers of two from 512 bytes to 1 MiB.",
                                       p.data_block_size, p.hash_block_size);
        if (p.hash_block_size < 2 * ds)
                return log_debug_errno(EBADMSG, "hash block size %" PRIu32 " cannot hold two %s digests.",
                                       p.hash_block_size, p.hash_name);
        p.salt_size = le16toh(sb->salt_size);
        if (p.salt_size > VERITY_MAX_SALT_SIZE)
                return log_debug_errno(EBADMSG, "verity salt of %zu bytes: at most %u.", p.salt_size, VERITY_MAX_SALT_SIZE);
        memcpy(p.salt, sb->salt, p.salt_size);
        memcpy(p.uuid, sb->uuid, sizeof p.uuid);
        p.has_uuid = true;
        blocks = le64toh(sb->data_blocks);
        if (blocks == 0 || __builtin_mul_overflow(blocks, (uint64_t) p.data_block_size, &p.data_size))
                return log_debug_errno(EBADMSG, "verity superblock states %" PRIu64 " data blocks.", blocks);
        if (verity_params_check(&p, NULL) < 0)
                return log_debug_errno(EBADMSG, "verity superblock states parameters out of range (%" PRIu64 " data blocks).",
                                       blocks);
        *ret = p;
        return 0;
}

/* ---- hasher ---- */

typedef struct Worker {
        pthread_t thread;
        struct VerityHasher *h;
        EVP_MD_CTX *ctx;
} Worker;

struct VerityHasher {
        VerityParams p;
        VerityLayout l;
        EVP_MD *md;
        EVP_MD_CTX *ctx;
        int tree_fd;

        uint8_t *level_buf[VERITY_MAX_LEVELS];
        unsigned level_fill[VERITY_MAX_LEVELS];
        uint64_t level_done[VERITY_MAX_LEVELS];
        uint8_t root[VERITY_MAX_DIGEST_SIZE];
        bool have_root;

        /* Two batch buffers: while the workers hash one, the caller fills the other. */
        uint8_t *batch[2];
        uint8_t *digests[2];
        unsigned cur;
        size_t batch_fill, batch_cap, direct_cap;
        uint64_t data_done;
        bool inflight;          /* batch[cur ^ 1] is being hashed */
        size_t inflight_blocks;

        /* Leaf hashing on several threads: the caller and the workers take chunks of a job. */
        unsigned n_workers;
        Worker *workers;
        pthread_mutex_t mutex;
        pthread_cond_t cond_start, cond_done;
        uint64_t generation;
        unsigned pending;
        bool stop;
        const uint8_t *job_data;
        uint8_t *job_digests;
        size_t job_blocks;
        atomic_size_t job_next;
        int job_error;
};

/* Work on the current job in chunks taken from a shared counter, until none is left: workers do
 * this as soon as a job is posted, the caller whenever it would otherwise wait for them. */
#define CHUNK_BLOCKS 16U

static int hash_chunks(VerityHasher *h, EVP_MD_CTX *ctx) {
        size_t n = h->job_blocks, bs = h->p.data_block_size, ds = h->l.digest_size;

        for (;;) {
                size_t from = atomic_fetch_add(&h->job_next, CHUNK_BLOCKS), to;

                if (from >= n)
                        return 0;
                to = MIN(from + CHUNK_BLOCKS, n);
                for (size_t i = from; i < to; i++) {
                        int r = hash_salted(ctx, h->md, &h->p, h->job_data + i * bs, bs, h->job_digests + i * ds);
                        if (r < 0)
                                return r;
                }
        }
}

static void *worker_main(void *userdata) {
        Worker *w = userdata;
        VerityHasher *h = w->h;
        uint64_t seen = 0;

        for (;;) {
                int r;

                pthread_mutex_lock(&h->mutex);
                while (h->generation == seen && !h->stop)
                        pthread_cond_wait(&h->cond_start, &h->mutex);
                if (h->stop) {
                        pthread_mutex_unlock(&h->mutex);
                        return NULL;
                }
                seen = h->generation;
                pthread_mutex_unlock(&h->mutex);

                r = hash_chunks(h, w->ctx);

                pthread_mutex_lock(&h->mutex);
                if (r < 0)
                        h->job_error = r;
                if (--h->pending == 0)
                        pthread_cond_signal(&h->cond_done);
                pthread_mutex_unlock(&h->mutex);
        }
}

static int emit_block(VerityHasher *h, unsigned level);

static int push_digest(VerityHasher *h, unsigned level, const uint8_t *d) {
        memcpy(h->level_buf[level] + (size_t) h->level_fill[level] * h->l.digest_size, d, h->l.digest_size);
        if (++h->level_fill[level] == h->l.per_block)
                return emit_block(h, level);
        return 0;
}

/* A hash block is complete (or the level ends): write it in place and hash it into the level above. */
static int emit_block(VerityHasher *h, unsigned level) {
        size_t hbs = h->p.hash_block_size, used = (size_t) h->level_fill[level] * h->l.digest_size;
        uint8_t d[VERITY_MAX_DIGEST_SIZE];
        int r;

        if (h->level_done[level] >= h->l.level_blocks[level])
                return -EBADMSG; /* more data than announced */

        memset(h->level_buf[level] + used, 0, hbs - used);
        if (h->tree_fd >= 0) {
                r = loop_pwrite(h->tree_fd, h->level_buf[level], hbs,
                                (h->l.level_pos[level] + h->level_done[level]) * hbs);
                if (r < 0)
                        return r;
        }
        r = hash_salted(h->ctx, h->md, &h->p, h->level_buf[level], hbs, d);
        if (r < 0)
                return r;
        h->level_done[level]++;
        h->level_fill[level] = 0;

        if (level + 1 < h->l.levels)
                return push_digest(h, level + 1, d);
        memcpy(h->root, d, h->l.digest_size);
        h->have_root = true;
        return 0;
}

static void dispatch(VerityHasher *h, const uint8_t *data, uint8_t *digests, size_t nblocks) {
        h->job_data = data;
        h->job_digests = digests;
        h->job_blocks = nblocks;
        atomic_store(&h->job_next, 0);
        h->job_error = 0;
        pthread_mutex_lock(&h->mutex);
        h->pending = h->n_workers;
        h->generation++;
        pthread_cond_broadcast(&h->cond_start);
        pthread_mutex_unlock(&h->mutex);
}

static int wait_job(VerityHasher *h) {
        int r;

        pthread_mutex_lock(&h->mutex);
        while (h->pending > 0)
                pthread_cond_wait(&h->cond_done, &h->mutex);
        r = h->job_error;
        pthread_mutex_unlock(&h->mutex);
        return r;
}

/* Leaf digests into the tree, in data order. */
static int push_leaves(VerityHasher *h, const uint8_t *digests, size_t nblocks) {
        if (h->l.levels == 0) {
                /* A single data block: its digest is the root. */
                memcpy(h->root, digests, h->l.digest_size);
                h->have_root = true;
                return 0;
        }
        for (size_t i = 0; i < nblocks; i++) {
                int r = push_digest(h, 0, digests + i * h->l.digest_size);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int complete_inflight(VerityHasher *h) {
        int r, k;

        if (!h->inflight)
                return 0;
        h->inflight = false;
        /* Rather than wait idle, help with what is left of it. */
        k = hash_chunks(h, h->ctx);
        r = wait_job(h);
        if (r >= 0)
                r = k;
        if (r < 0)
                return r;
        return push_leaves(h, h->digests[h->cur ^ 1], h->inflight_blocks);
}

static int reserve(VerityHasher *h, size_t nblocks) {
        if (h->data_done + (uint64_t) nblocks * h->p.data_block_size > h->p.data_size)
                return -EBADMSG;
        h->data_done += (uint64_t) nblocks * h->p.data_block_size;
        return 0;
}

/* Hashes data the caller owns: done before returning. */
static int process_blocks(VerityHasher *h, const uint8_t *data, size_t nblocks) {
        uint8_t *digests = h->digests[h->cur];
        int r;

        r = complete_inflight(h);
        if (r < 0)
                return r;
        if (nblocks == 0)
                return 0;
        r = reserve(h, nblocks);
        if (r < 0)
                return r;
        if (h->workers) {
                dispatch(h, data, digests, nblocks);
                r = hash_chunks(h, h->ctx);
                int k = wait_job(h);
                if (r >= 0)
                        r = k;
        } else {
                h->job_data = data;
                h->job_digests = digests;
                h->job_blocks = nblocks;
                atomic_store(&h->job_next, 0);
                r = hash_chunks(h, h->ctx);
        }
        if (r < 0)
                return r;
        return push_leaves(h, digests, nblocks);
}

/* Hands the full batch to the workers and switches to the other buffer. */
static int submit_batch(VerityHasher *h, size_t nblocks) {
        int r;

        r = complete_inflight(h);
        if (r < 0)
                return r;
        r = reserve(h, nblocks);
        if (r < 0)
                return r;
        dispatch(h, h->batch[h->cur], h->digests[h->cur], nblocks);
        h->inflight = true;
        h->inflight_blocks = nblocks;
        h->cur ^= 1;
        h->batch_fill = 0;
        return 0;
}

int verity_hasher_new(const VerityParams *p, int tree_fd, unsigned threads, VerityHasher **ret) {
        VerityHasher *h;
        int r;

        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->p = *p;
        h->tree_fd = tree_fd;
        r = layout_compute(p, &h->l);
        if (r < 0)
                goto fail;

        r = -ENOMEM;
        h->md = EVP_MD_fetch(NULL, p->hash_name, NULL);
        h->ctx = EVP_MD_CTX_new();
        if (!h->md || !h->ctx)
                goto fail;
        for (unsigned i = 0; i < h->l.levels; i++) {
                h->level_buf[i] = malloc(p->hash_block_size);
                if (!h->level_buf[i])
                        goto fail;
        }
        h->batch_cap = MAX(BATCH_SIZE / p->data_block_size, 1U) * p->data_block_size;
        h->direct_cap = MAX(DIRECT_SIZE / p->data_block_size, 1U) * p->data_block_size;
        for (unsigned i = 0; i < 2; i++) {
                h->batch[i] = malloc(h->batch_cap);
                h->digests[i] = malloc(h->direct_cap / p->data_block_size * h->l.digest_size);
                if (!h->batch[i] || !h->digests[i])
                        goto fail;
        }

        if (tree_fd >= 0) {
                /* The superblock fills block 0; the levels start at block 1 (hash blocks >= 512). */
                _cleanup_free_ uint8_t *block = calloc(1, p->hash_block_size);
                struct verity_sb sb;

                r = -ENOMEM;
                if (!block)
                        goto fail;
                r = superblock_build(p, &h->l, &sb);
                if (r < 0)
                        goto fail;
                memcpy(block, &sb, sizeof sb);
                r = loop_pwrite(tree_fd, block, p->hash_block_size, 0);
                if (r < 0)
                        goto fail;
        }

        /* Threads pay off only when there is more than one batch of data. threads - 1 workers hash
         * our batches while the caller reads and writes; the caller joins in whenever it would
         * wait, and for data it hands over whole. */
        if (threads > 1 && p->data_size > h->batch_cap) {
                threads--;
                pthread_mutex_init(&h->mutex, NULL);
                pthread_cond_init(&h->cond_start, NULL);
                pthread_cond_init(&h->cond_done, NULL);
                h->workers = calloc(threads, sizeof(Worker));
                if (!h->workers) {
                        r = -ENOMEM;
                        goto fail;
                }
                for (unsigned i = 0; i < threads; i++) {
                        Worker *w = &h->workers[i];
                        w->h = h;
                        w->ctx = EVP_MD_CTX_new();
                        if (!w->ctx || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                                EVP_MD_CTX_free(w->ctx);
                                w->ctx = NULL;
                                break; /* run with the threads we got */
                        }
                        h->n_workers++;
                }
                if (h->n_workers == 0) {
                        free(h->workers);
                        h->workers = NULL;
                }
        }

        *ret = h;
        return 0;

fail:
        verity_hasher_free(h);
        return r;
}

int verity_hasher_update(VerityHasher *h, const void *data, size_t len) {
        const uint8_t *p = data;
        size_t bs = h->p.data_block_size;
        int r;

        while (len > 0) {
                size_t n;

                /* Whole batches straight from the caller's buffer, no copy. */
                if (h->batch_fill == 0 && len >= h->batch_cap) {
                        n = MIN(len, h->direct_cap) / bs * bs;
                        r = process_blocks(h, p, n / bs);
                        if (r < 0)
                                return r;
                        p += n;
                        len -= n;
                        continue;
                }
                /* A large piece after a partly filled batch: complete the block in the batch, hand
                 * the batch over as it is, and take the rest of the piece straight. */
                if (h->batch_fill > 0 && len >= h->batch_cap) {
                        n = (bs - h->batch_fill % bs) % bs;
                        memcpy(h->batch[h->cur] + h->batch_fill, p, n);
                        h->batch_fill += n;
                        p += n;
                        len -= n;
                        if (h->workers)
                                r = submit_batch(h, h->batch_fill / bs);
                        else {
                                r = process_blocks(h, h->batch[h->cur], h->batch_fill / bs);
                                h->batch_fill = 0;
                        }
                        if (r < 0)
                                return r;
                        continue;
                }
                n = MIN(len, h->batch_cap - h->batch_fill);
                memcpy(h->batch[h->cur] + h->batch_fill, p, n);
                h->batch_fill += n;
                p += n;
                len -= n;
                if (h->batch_fill == h->batch_cap) {
                        if (h->workers)
                                r = submit_batch(h, h->batch_cap / bs);
                        else {
                                r = process_blocks(h, h->batch[h->cur], h->batch_cap / bs);
                                h->batch_fill = 0;
                        }
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int verity_hasher_finish(VerityHasher *h, uint8_t *ret_root, size_t *ret_root_size) {
        size_t bs = h->p.data_block_size;
        int r;

        if (h->batch_fill % bs != 0)
                return -EBADMSG;
        r = process_blocks(h, h->batch[h->cur], h->batch_fill / bs);
        if (r < 0)
                return r;
        h->batch_fill = 0;
        if (h->data_done != h->p.data_size)
                return -EBADMSG;

        for (unsigned i = 0; i < h->l.levels; i++)
                if (h->level_fill[i] > 0) {
                        r = emit_block(h, i);
                        if (r < 0)
                                return r;
                }
        for (unsigned i = 0; i < h->l.levels; i++)
                if (h->level_done[i] != h->l.level_blocks[i])
                        return -EBADMSG;
        if (!h->have_root)
                return -EBADMSG;

        memcpy(ret_root, h->root, h->l.digest_size);
        *ret_root_size = h->l.digest_size;
        return 0;
}

VerityHasher *verity_hasher_free(VerityHasher *h) {
        if (!h)
                return NULL;
        if (h->workers) {
                /* A batch may still be in flight: let it end before its buffer goes. */
                if (h->inflight)
                        (void) wait_job(h);
                pthread_mutex_lock(&h->mutex);
                h->stop = true;
                pthread_cond_broadcast(&h->cond_start);
                pthread_mutex_unlock(&h->mutex);
                for (unsigned i = 0; i < h->n_workers; i++) {
                        pthread_join(h->workers[i].thread, NULL);
                        EVP_MD_CTX_free(h->workers[i].ctx);
                }
                free(h->workers);
                pthread_mutex_destroy(&h->mutex);
                pthread_cond_destroy(&h->cond_start);
                pthread_cond_destroy(&h->cond_done);
        }
        for (unsigned i = 0; i < VERITY_MAX_LEVELS; i++)
                free(h->level_buf[i]);
        for (unsigned i = 0; i < 2; i++) {
                free(h->batch[i]);
                free(h->digests[i]);
        }
        EVP_MD_CTX_free(h->ctx);
        EVP_MD_free(h->md);
        free(h);
        return NULL;
}

/* Feeds the first h->p.data_size bytes of fd to h. The file is read with pread() straight into the
 * hasher's two batch buffers: while the workers hash one, this thread reads into the other, then
 * helps with what is left of it. A read() copy costs less here than hashing out of a mapping
 * (faulting pages in, mapping and unmapping windows: docs/benchmarks.md), and memory stays at the
 * two buffers whatever the file's size. */
static int hash_fd_into(VerityHasher *h, int fd) {
        size_t bs = h->p.data_block_size;
        int r;

        (void) posix_fadvise(fd, 0, (off_t) h->p.data_size, POSIX_FADV_SEQUENTIAL);
        for (uint64_t off = 0; off < h->p.data_size;) {
                size_t n = (size_t) MIN((uint64_t) h->batch_cap, h->p.data_size - off);
                ssize_t k;

                k = loop_pread(fd, h->batch[h->cur], n, off);
                if (k < 0)
                        return (int) k;
                if ((size_t) k != n)
                        return -EBADMSG; /* the file shrank */
                off += n;
                /* data_size and batch_cap are whole blocks, so n is too. */
                if (h->workers)
                        r = submit_batch(h, n / bs);
                else
                        r = process_blocks(h, h->batch[h->cur], n / bs);
                if (r < 0)
                        return r;
        }
        return 0;
}

int verity_hash_fd(int fd, const VerityParams *p, int tree_fd, unsigned threads, uint8_t *ret_root,
                   size_t *ret_root_size) {
        _cleanup_(verity_hasher_freep) VerityHasher *h = NULL;
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size != p->data_size)
                return -EBADMSG;
        r = verity_hasher_new(p, tree_fd, threads, &h);
        if (r < 0)
                return r;
        r = hash_fd_into(h, fd);
        if (r < 0)
                return r;
        return verity_hasher_finish(h, ret_root, ret_root_size);
}

/* ---- tree checker ---- */

struct VerityTreeChecker {
        VerityParams p;
        VerityLayout l;
        EVP_MD *md;
        EVP_MD_CTX *ctx;
        uint8_t root[VERITY_MAX_DIGEST_SIZE];

        uint8_t *block;         /* the block being received */
        size_t block_fill;
        uint64_t blocks_seen;   /* whole hash blocks received, superblock included */

        /* Raw blocks of the level above the one being received (the expected digests), and of
         * the level being received, kept while a level below still needs them. */
        uint8_t *parent, *current;
        int level;              /* level being received; levels = superblock */
        uint64_t index;         /* block index within that level */
};

int verity_tree_checker_new(const VerityParams *p, const uint8_t *root, size_t root_size, VerityTreeChecker **ret) {
        VerityTreeChecker *c;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->p = *p;
        r = layout_compute(p, &c->l);
        if (r < 0)
                goto fail;
        r = -EINVAL;
        if (root_size != c->l.digest_size)
                goto fail;
        memcpy(c->root, root, root_size);
        r = -ENOMEM;
        c->md = EVP_MD_fetch(NULL, p->hash_name, NULL);
        c->ctx = EVP_MD_CTX_new();
        c->block = malloc(p->hash_block_size);
        if (!c->md || !c->ctx || !c->block)
                goto fail;
        c->level = (int) c->l.levels;
        *ret = c;
        return 0;
fail:
        verity_tree_checker_free(c);
        return r;
}

static int checker_superblock(VerityTreeChecker *c) {
        VerityParams got;
        size_t hbs = c->p.hash_block_size;

        if (verity_superblock_parse(c->block, hbs, &got) < 0)
                return log_debug_errno(EBADMSG, "Hash tree superblock is invalid: %s", log_detail() ?: "unreadable");
        if (strcmp(got.hash_name, c->p.hash_name) != 0 || got.data_block_size != c->p.data_block_size ||
            got.hash_block_size != c->p.hash_block_size || got.data_size != c->p.data_size ||
            got.salt_size != c->p.salt_size || memcmp(got.salt, c->p.salt, got.salt_size) != 0)
                return log_debug_errno(EBADMSG, "Hash tree superblock does not match the signed verity parameters.");
        /* Everything after the superblock up to the first level is padding. */
        for (size_t i = VERITY_SUPERBLOCK_SIZE; i < hbs; i++)
                if (c->block[i] != 0)
                        return log_debug_errno(EBADMSG, "Hash tree superblock padding is not zero.");
        return 0;
}

static int checker_block(VerityTreeChecker *c) {
        size_t hbs = c->p.hash_block_size, ds = c->l.digest_size;
        uint8_t d[VERITY_MAX_DIGEST_SIZE];
        const uint8_t *expected;
        int r;

        if (c->blocks_seen == 0) {
                /* With hash blocks smaller than the superblock the superblock spans several blocks;
                 * we only accept hash blocks >= 512, so it is exactly one. */
                r = checker_superblock(c);
                if (r < 0)
                        return r;
                c->level = (int) c->l.levels - 1;
                c->index = 0;
                goto next_level_check;
        }
        if (c->level < 0)
                return log_debug_errno(EBADMSG, "Hash tree is longer than its parameters say.");

        r = hash_salted(c->ctx, c->md, &c->p, c->block, hbs, d);
        if (r < 0)
                return r;
        if (c->level == (int) c->l.levels - 1)
                expected = c->root;
        else
                expected = c->parent + (c->index / c->l.per_block) * hbs + (c->index % c->l.per_block) * ds;
        if (memcmp(d, expected, ds) != 0)
                return log_debug_errno(EBADMSG, "Hash tree block %" PRIu64 " of level %d does not match.", c->index,
                                       c->level);
        if (c->current)
                memcpy(c->current + c->index * hbs, c->block, hbs);
        c->index++;

        if (c->index < c->l.level_blocks[c->level])
                return 0;
        /* Level complete: it becomes the parent of the next one. */
        free(c->parent);
        c->parent = TAKE_PTR(c->current);
        c->level--;
        c->index = 0;

next_level_check:
        /* Keep the raw blocks of this level only if a level below needs them. */
        if (c->level > 0) {
                uint64_t bytes;
                if (__builtin_mul_overflow(c->l.level_blocks[c->level], (uint64_t) hbs, &bytes) || bytes > SIZE_MAX)
                        return -EOVERFLOW;
                c->current = malloc((size_t) bytes);
                if (!c->current)
                        return -ENOMEM;
        }
        return 0;
}

int verity_tree_checker_update(VerityTreeChecker *c, const void *data, size_t len) {
        const uint8_t *p = data;
        size_t hbs = c->p.hash_block_size;

        while (len > 0) {
                size_t n = MIN(len, hbs - c->block_fill);
                int r;

                memcpy(c->block + c->block_fill, p, n);
                c->block_fill += n;
                p += n;
                len -= n;
                if (c->block_fill < hbs)
                        continue;
                r = checker_block(c);
                if (r < 0)
                        return r;
                c->block_fill = 0;
                c->blocks_seen++;
        }
        return 0;
}

int verity_tree_checker_finish(VerityTreeChecker *c) {
        if (c->block_fill != 0 || c->blocks_seen != c->l.tree_blocks || c->level >= 0)
                return log_debug_errno(EBADMSG, "Hash tree is shorter than its parameters say.");
        return 0;
}

VerityTreeChecker *verity_tree_checker_free(VerityTreeChecker *c) {
        if (!c)
                return NULL;
        free(c->block);
        free(c->parent);
        free(c->current);
        EVP_MD_CTX_free(c->ctx);
        EVP_MD_free(c->md);
        free(c);
        return NULL;
}
