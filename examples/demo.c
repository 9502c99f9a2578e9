/*
 * demo - a sensor-log pipeline under grt's CPU profiler: the program
 * behind `make run`.
 *
 *   4 foreign pthreads      a "driver" thread pool grt did not create reads
 *   (sensor_thread)         batches of binary readings and hands each one to
 *                           goroutine code with grt_callback
 *   ingest_readings         (goroutine code, on the foreign thread) formats
 *                           the batch as text log lines: one block
 *   sort_stage x2           sorts each block's lines with libc's qsort_r
 *                           inside grt_extcall; its comparator calls back
 *                           into goroutine code (compare_records) through a
 *                           nested grt_callback for every comparison
 *   compress_stage x2       checksums the sorted text with zlib's crc32 and
 *                           compresses it with compress2 (one grt_extcall),
 *                           at level 1, so zlib takes a third of the CPU,
 *                           not all of it
 *   verify_stage            inflates each block again (grt_extcall), checks
 *                           its checksum (crc32_by_hand, goroutine code) and
 *                           its order: nothing was lost
 *
 * Channels connect the stages; closing them in order shuts the pipeline
 * down once the foreign threads stop.  The whole run is profiled, for CPU
 * (grt_prof_start/grt_prof_stop) and for the goroutines' wall-clock time
 * (grt_wallprof_start/stop: where each stage waits, into demo.wall.pb.gz
 * beside the CPU profile); afterwards the demo prints what the pipeline
 * did.  `make run` then prints the CPU profile's top 15 functions with the
 * grt-pprof tool (`grt-pprof top -n 15 demo.pb.gz`).
 *
 *   ./demo [seconds [profile.pb.gz]]     defaults: 5 and demo.pb.gz
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
  NSENSOR_THREADS = 4,
  NSORTERS = 2,
  NCOMPRESSORS = 2,
  READINGS_PER_BATCH = 1000, /* one batch makes one block of text */
  LINE_MAX_LEN = 96,
  CHAN_CAP = 8,
  ZLEVEL = 1, /* zlib's fastest: at 6, compression alone would take 60% of the CPU */
};

/* ---- errors: reported once, then the pipeline drains and exits 1 ---- */

static atomic_int failed;

static void fail(const char *what, int err) {
  if (atomic_exchange(&failed, 1) == 0) fprintf(stderr, "demo: %s: %s\n", what, strerror(err));
}

/* ---- what flows through the pipeline ---- */

struct reading {
  uint32_t sensor;
  uint64_t time_us;
  int32_t temp_centi; /* hundredths of a degree */
  uint16_t humidity_permille;
  uint8_t status;
};

struct batch {
  struct reading r[READINGS_PER_BATCH];
  int ok; /* set by ingest_readings */
};

struct line {
  const char *p;
  uint32_t len;
};

struct block {
  char *text; /* log lines, sorted once past sort_stage */
  size_t len;
  struct line *lines;
  uint32_t nlines;
  uint32_t crc; /* of the sorted text, by zlib's crc32 */
  uint8_t *z;   /* the compressed text */
  size_t zlen;
  long comparisons; /* made by qsort_r, each a nested callback */
};

static grt_chan *raw_blocks, *sorted_blocks, *compressed_blocks;

/* Totals, each written by one stage's goroutines. */
static atomic_long n_batches, n_lines, n_comparisons, n_text_bytes, n_zbytes, n_verified;

/* ---- foreign code: the sensor driver's thread pool ---- */

static atomic_int stopping;

/* xorshift: the "hardware" readings. */
static uint64_t next_random(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void *ingest_readings(void *arg);

/* A plain pthread (grt did not create it) that delivers batches into
 * goroutine code, as a C library's worker threads would. */
static void *sensor_thread(void *arg) {
  uint64_t seed = 0x9e3779b97f4a7c15ull * (uintptr_t)arg + 1;
  uint64_t now_us = 1700000000ull * 1000000;
  while (!atomic_load(&stopping) && !atomic_load(&failed)) {
    struct batch *b = malloc(sizeof *b);
    if (!b) {
      fail("sensor thread: malloc", ENOMEM);
      break;
    }
    for (int i = 0; i < READINGS_PER_BATCH; i++) {
      uint64_t x = next_random(&seed);
      now_us += x % 1000;
      b->r[i] = (struct reading){
          .sensor = (uint32_t)(x >> 20) % 500,
          .time_us = now_us,
          .temp_centi = (int32_t)((x >> 32) % 6000) - 2000,
          .humidity_permille = (uint16_t)((x >> 48) % 1000),
          .status = (uint8_t)(x % 97 == 0),
      };
    }
    b->ok = 0;
    if (!grt_callback(ingest_readings, b)) {
      fail("grt_callback from a sensor thread", errno);
      free(b);
      break;
    }
    int ok = b->ok;
    free(b);
    if (!ok) break;
  }
  return NULL;
}

/* ---- goroutine code called by the foreign threads ---- */

/* The log line's layout: fixed-width fields up to the temperature, so
 * the sort can find its keys without searching. */
enum { SENSOR_LEN = 11, TIME_OFF = 14, TIME_LEN = 17, TEMP_OFF = 37 };

static char *put_str(char *p, const char *s) {
  while (*s)
    *p++ = *s++;
  return p;
}

/* v as exactly width digits, zero-padded. */
static char *put_digits(char *p, uint64_t v, int width) {
  for (int i = width - 1; i >= 0; i--, v /= 10)
    p[i] = (char)('0' + v % 10);
  return p + width;
}

static char *put_uint(char *p, uint64_t v) {
  int n = 1;
  for (uint64_t x = v; x >= 10; x /= 10)
    n++;
  return put_digits(p, v, n);
}

/* Formats one reading as a log line (at most about 70 bytes), by hand:
 * snprintf would cost three times as much.  Returns its length.
 *   sensor-0042 t=1700000000.123456 temp=-3.25 hum=40.1% ok */
static int format_record(char *out, const struct reading *r) {
  char *p = put_digits(put_str(out, "sensor-"), r->sensor, 4);
  p = put_digits(put_str(p, " t="), r->time_us / 1000000, 10);
  *p++ = '.';
  p = put_digits(p, r->time_us % 1000000, 6);
  p = put_str(p, r->temp_centi < 0 ? " temp=-" : " temp=");
  uint32_t temp = (uint32_t)abs(r->temp_centi);
  p = put_uint(p, temp / 100);
  *p++ = '.';
  p = put_digits(p, temp % 100, 2);
  p = put_uint(put_str(p, " hum="), r->humidity_permille / 10);
  *p++ = '.';
  p = put_digits(p, r->humidity_permille % 10, 1);
  p = put_str(p, r->status ? "% ALARM\n" : "% ok\n");
  return (int)(p - out);
}

/* Runs on a sensor thread, through grt_callback: turns a batch into a
 * block of text and sends it down the pipeline (blocking, like any
 * goroutine, while the pipeline is full). */
static void *ingest_readings(void *arg) {
  struct batch *b = arg;
  struct block *blk = calloc(1, sizeof *blk);
  char *text = malloc((size_t)READINGS_PER_BATCH * LINE_MAX_LEN);
  if (!blk || !text) {
    free(blk);
    free(text);
    fail("ingest_readings: malloc", ENOMEM);
    return b;
  }
  size_t len = 0;
  for (int i = 0; i < READINGS_PER_BATCH; i++)
    len += (size_t)format_record(text + len, &b->r[i]);
  *blk = (struct block){.text = text, .len = len};
  int err = grt_chan_send(raw_blocks, &blk);
  if (err) {
    fail("grt_chan_send(raw_blocks)", -err);
    free(text);
    free(blk);
    return b;
  }
  atomic_fetch_add(&n_batches, 1);
  b->ok = 1;
  return b;
}

/* ---- sorting: qsort_r in libc, comparisons in goroutine code ---- */

/* Parses "[-]D+.DD" at p into hundredths. */
static long parse_centi(const char *p) {
  int neg = *p == '-';
  p += neg;
  long v = 0;
  while (*p >= '0' && *p <= '9')
    v = v * 10 + (*p++ - '0');
  if (*p == '.') {
    p++;
    for (int i = 0; i < 2; i++)
      v = v * 10 + (*p >= '0' && *p <= '9' ? *p++ - '0' : 0);
  }
  return neg ? -v : v;
}

/* The log's order: by sensor, hottest first, then by time. */
static int compare_records(const struct line *a, const struct line *b) {
  int c = memcmp(a->p, b->p, SENSOR_LEN);
  if (c) return c;
  long ta = parse_centi(a->p + TEMP_OFF), tb = parse_centi(b->p + TEMP_OFF);
  if (ta != tb) return ta > tb ? -1 : 1;
  return memcmp(a->p + TIME_OFF, b->p + TIME_OFF, TIME_LEN);
}

struct compare_call {
  const struct line *a, *b;
  int result;
};

/* Goroutine code, reached from qsort_r's comparator by a nested callback. */
static void *compare_callback(void *arg) {
  struct compare_call *c = arg;
  c->result = compare_records(c->a, c->b);
  return c;
}

/* External code: qsort_r's comparator, on the thread's system stack. */
static int compare_lines_external(const void *x, const void *y, void *ctx) {
  struct block *blk = ctx;
  struct compare_call c = {x, y, 0};
  blk->comparisons++;
  if (!grt_callback(compare_callback, &c)) fail("grt_callback from qsort_r's comparator", errno);
  return c.result;
}

/* External code: libc sorts the block's lines. */
static void *qsort_block(void *arg) {
  struct block *blk = arg;
  qsort_r(blk->lines, blk->nlines, sizeof *blk->lines, compare_lines_external, blk);
  return blk;
}

/* Splits the text into lines, sorts them, and rewrites the text in order. */
static int sort_block(struct block *blk) {
  uint32_t n = 0;
  for (size_t i = 0; i < blk->len; i++)
    n += blk->text[i] == '\n';
  blk->lines = malloc((n + 1) * sizeof *blk->lines);
  char *sorted = malloc(blk->len + 1);
  if (!blk->lines || !sorted) {
    free(sorted);
    return ENOMEM;
  }
  const char *p = blk->text, *end = blk->text + blk->len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
    blk->lines[blk->nlines++] = (struct line){p, (uint32_t)len};
    p += len;
  }
  if (!grt_extcall(qsort_block, blk)) return errno;
  size_t off = 0;
  for (uint32_t i = 0; i < blk->nlines; i++) {
    memcpy(sorted + off, blk->lines[i].p, blk->lines[i].len);
    blk->lines[i].p = sorted + off; /* the lines now point into the sorted text */
    off += blk->lines[i].len;
  }
  free(blk->text);
  blk->text = sorted;
  return 0;
}

static grt_wg sorters_done, compressors_done, verifier_done;

static void sort_stage(void *arg) {
  (void)arg;
  struct block *blk;
  while (grt_chan_recv(raw_blocks, &blk) == 1) {
    int err = sort_block(blk);
    if (err) fail("sort_block", err);
    atomic_fetch_add(&n_comparisons, blk->comparisons);
    if ((err = grt_chan_send(sorted_blocks, &blk)) != 0) fail("grt_chan_send(sorted_blocks)", -err);
  }
  grt_wg_done(&sorters_done);
}

/* ---- compression: zlib, through grt_extcall ---- */

/* CRC-32 (IEEE) in goroutine code, a byte at a time: the verifier's own
 * computation, checked against zlib's crc32. */
static uint32_t crc_table[256];

static void crc32_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    crc_table[i] = c;
  }
}

static uint32_t crc32_by_hand(const void *data, size_t len) {
  const uint8_t *p = data;
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < len; i++)
    crc = (crc >> 8) ^ crc_table[(crc ^ p[i]) & 0xff];
  return ~crc;
}

/* External code: zlib checksums and compresses the sorted text. */
static void *zlib_compress_block(void *arg) {
  struct block *blk = arg;
  blk->crc = (uint32_t)crc32(0, (const Bytef *)blk->text, (uInt)blk->len);
  uLongf zlen = compressBound(blk->len);
  blk->z = malloc(zlen);
  if (!blk->z) {
    errno = ENOMEM;
    return NULL;
  }
  int rc = compress2(blk->z, &zlen, (const Bytef *)blk->text, blk->len, ZLEVEL);
  if (rc != Z_OK) {
    errno = rc == Z_MEM_ERROR ? ENOMEM : EIO;
    return NULL;
  }
  blk->zlen = zlen;
  return blk;
}

static void compress_stage(void *arg) {
  (void)arg;
  struct block *blk;
  while (grt_chan_recv(sorted_blocks, &blk) == 1) {
    if (!grt_extcall(zlib_compress_block, blk)) fail("zlib compress2", errno);
    atomic_fetch_add(&n_text_bytes, (long)blk->len);
    atomic_fetch_add(&n_zbytes, (long)blk->zlen);
    int err = grt_chan_send(compressed_blocks, &blk);
    if (err) fail("grt_chan_send(compressed_blocks)", -err);
  }
  grt_wg_done(&compressors_done);
}

/* ---- verification: inflate again, check checksum and order ---- */

struct inflate_job {
  const struct block *blk;
  char *out;
  uLongf len;
};

/* External code: zlib decompresses a block. */
static void *zlib_uncompress_block(void *arg) {
  struct inflate_job *j = arg;
  j->len = j->blk->len;
  int rc = uncompress((Bytef *)j->out, &j->len, j->blk->z, j->blk->zlen);
  return rc == Z_OK ? j : NULL;
}

static int block_is_intact(const struct block *blk) {
  struct inflate_job j = {blk, malloc(blk->len + 1), 0};
  if (!j.out) return 0;
  int ok = grt_extcall(zlib_uncompress_block, &j) && j.len == blk->len &&
           crc32_by_hand(j.out, j.len) == blk->crc;
  for (uint32_t i = 1; ok && i < blk->nlines; i++)
    ok = compare_records(&blk->lines[i - 1], &blk->lines[i]) <= 0;
  free(j.out);
  return ok;
}

static void verify_stage(void *arg) {
  (void)arg;
  struct block *blk;
  while (grt_chan_recv(compressed_blocks, &blk) == 1) {
    if (blk->z && block_is_intact(blk)) {
      atomic_fetch_add(&n_verified, 1);
      atomic_fetch_add(&n_lines, blk->nlines);
    } else {
      fail("verify_stage: a block did not survive the pipeline", EIO);
    }
    free(blk->text);
    free(blk->lines);
    free(blk->z);
    free(blk);
  }
  grt_wg_done(&verifier_done);
}

/* ---- main ---- */

static void *join_external(void *arg) {
  return (void *)(intptr_t)pthread_join(*(pthread_t *)arg, NULL);
}

static int start_stage(void (*fn)(void *), int n, grt_wg *wg, const char *name) {
  grt_wg_add(wg, n);
  for (int i = 0; i < n; i++) {
    int err = grt_go(fn, NULL);
    if (err) {
      fprintf(stderr, "demo: grt_go(%s): %s\n", name, strerror(-err));
      return 1;
    }
  }
  return 0;
}

/* Closes ch once the stage that sends on it is done. */
static int close_after(grt_wg *senders, grt_chan *ch, const char *name) {
  grt_wg_wait(senders);
  int err = grt_chan_close(ch);
  if (err) fprintf(stderr, "demo: grt_chan_close(%s): %s\n", name, strerror(-err));
  return err != 0;
}

static int demo(int argc, char **argv) {
  char *end = NULL;
  double seconds = argc > 1 ? strtod(argv[1], &end) : 5;
  const char *path = argc > 2 ? argv[2] : "demo.pb.gz";
  if (argc > 3 || (argc > 1 && (end == argv[1] || *end || !(seconds >= 0.1 && seconds <= 3600)))) {
    fprintf(stderr, "usage: demo [seconds [profile.pb.gz]]   (0.1 <= seconds <= 3600; "
                    "defaults: 5 and demo.pb.gz)\n");
    return 2;
  }

  crc32_init();
  raw_blocks = grt_chan_make(sizeof(struct block *), CHAN_CAP);
  sorted_blocks = grt_chan_make(sizeof(struct block *), CHAN_CAP);
  compressed_blocks = grt_chan_make(sizeof(struct block *), CHAN_CAP);
  if (!raw_blocks || !sorted_blocks || !compressed_blocks) {
    fprintf(stderr, "demo: grt_chan_make: %s\n", strerror(errno));
    return 1;
  }

  printf("demo: %.1f s of a sensor-log pipeline on %d Ps, profiled at 100 Hz into %s\n", seconds,
         grt_maxprocs(), path);
  fflush(stdout);
  int err = grt_prof_start(&(grt_prof_config){.path = path, .hz = 100});
  if (err) {
    fprintf(stderr, "demo: grt_prof_start(%s): %s%s\n", path, strerror(-err),
            err == -EBUSY ? " (is GRT_CPUPROFILE set?)" : "");
    return 1;
  }
  /* The wall profile beside it: x.pb.gz -> x.wall.pb.gz. */
  static char wall[4096];
  size_t n = strlen(path);
  size_t stem = n > 6 && strcmp(path + n - 6, ".pb.gz") == 0 ? n - 6 : n;
  snprintf(wall, sizeof wall, "%.*s.wall.pb.gz", (int)stem, path);
  if ((err = grt_wallprof_start(&(grt_prof_config){.path = wall, .hz = 100})) != 0) {
    fprintf(stderr, "demo: grt_wallprof_start(%s): %s\n", wall, strerror(-err));
    return 1;
  }
  int64_t start = grt_nanotime();

  if (start_stage(sort_stage, NSORTERS, &sorters_done, "sort_stage") ||
      start_stage(compress_stage, NCOMPRESSORS, &compressors_done, "compress_stage") ||
      start_stage(verify_stage, 1, &verifier_done, "verify_stage"))
    return 1;
  pthread_t threads[NSENSOR_THREADS];
  int nthreads = 0;
  for (; nthreads < NSENSOR_THREADS; nthreads++) {
    err = pthread_create(&threads[nthreads], NULL, sensor_thread, (void *)(uintptr_t)nthreads);
    if (err) {
      fail("pthread_create", err);
      break;
    }
  }

  grt_sleep((int64_t)(seconds * 1e9));

  /* Shut down front to back: the foreign threads stop delivering, then
   * each closed channel ends the stage that reads it. */
  atomic_store(&stopping, 1);
  for (int i = 0; i < nthreads; i++)
    if ((err = (int)(intptr_t)grt_extcall(join_external, &threads[i])) != 0)
      fail("pthread_join", err);
  if ((err = grt_chan_close(raw_blocks)) != 0) fail("grt_chan_close(raw_blocks)", -err);
  if (close_after(&sorters_done, sorted_blocks, "sorted_blocks") ||
      close_after(&compressors_done, compressed_blocks, "compressed_blocks"))
    return 1;
  grt_wg_wait(&verifier_done);
  double elapsed = (double)(grt_nanotime() - start) / 1e9;

  if ((err = grt_prof_stop()) != 0) {
    fprintf(stderr, "demo: grt_prof_stop (writing %s): %s\n", path, strerror(-err));
    return 1;
  }
  if ((err = grt_wallprof_stop()) != 0) {
    fprintf(stderr, "demo: grt_wallprof_stop (writing %s): %s\n", wall, strerror(-err));
    return 1;
  }

  long batches = atomic_load(&n_batches), text = atomic_load(&n_text_bytes);
  long zbytes = atomic_load(&n_zbytes);
  printf("\n%ld batches (%ld log lines) from %d foreign threads through grt_callback in %.2f s\n",
         batches, atomic_load(&n_lines), nthreads, elapsed);
  printf("  sorted:     %ld comparisons by qsort_r, each a nested grt_callback\n",
         atomic_load(&n_comparisons));
  printf("  compressed: %.1f MB of text to %.1f MB with zlib (%.1fx)\n", text / 1e6, zbytes / 1e6,
         zbytes ? (double)text / (double)zbytes : 0.0);
  printf("  verified:   %ld of %ld blocks inflated back, checksum and order intact\n",
         atomic_load(&n_verified), batches);
  if (atomic_load(&failed)) return 1;

  printf("\nThe profile is in %s.  Where the CPU went, its top 15 functions:\n"
         "  grt-pprof top -n 15 %s\n"
         "The whole profile (flame graph, call graph, source):\n"
         "  go tool pprof -http=:8080 %s\n"
         "Where the goroutines spent their time, waiting included, by state:\n"
         "  go tool pprof -http=:8081 -tagroot=state %s\n",
         path, path, path, wall);
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(demo, argc, argv);
}
