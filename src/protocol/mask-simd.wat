;; In-place masking (RFC 6455 §5.3) with 128-bit SIMD, for buffers that live in this module's
;; memory (see maskable-buffer.ts). Compiled by scripts/compile-wasm.js (wabt) into
;; src/protocol/mask-simd-binary.ts at build time; mask.ts falls back to its JavaScript loop
;; where WebAssembly SIMD is missing.
;;
;; `key` is the 4-byte masking key already rotated to the phase of the first byte and laid out
;; in memory order (little-endian: the key byte for data[p] in the low byte). Every step below
;; consumes a multiple of 4 bytes until the final byte tail, so one key word serves the whole
;; range without rotating. Unaligned loads and stores are fine on every SIMD target V8 has.
(module
  ;; The memory is the embedder's: created with maximum = initial, so it never grows and no
  ;; view of it is ever detached.
  (import "env" "memory" (memory 1))

  ;; data[p, p + n) ^= key, repeated.
  (func (export "mask") (param $p i32) (param $n i32) (param $key i32)
    (local $end i32)
    (local $k v128)
    (local $k64 i64)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $k (i32x4.splat (local.get $key)))
    ;; 64 bytes per iteration: four independent load-xor-store chains.
    (block $done64
      (loop $by64
        (br_if $done64 (i32.gt_u (i32.add (local.get $p) (i32.const 64)) (local.get $end)))
        (v128.store offset=0 (local.get $p) (v128.xor (v128.load offset=0 (local.get $p)) (local.get $k)))
        (v128.store offset=16 (local.get $p) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $k)))
        (v128.store offset=32 (local.get $p) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $k)))
        (v128.store offset=48 (local.get $p) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $k)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $by64)))
    (block $done16
      (loop $by16
        (br_if $done16 (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
        (v128.store (local.get $p) (v128.xor (v128.load (local.get $p)) (local.get $k)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $by16)))
    ;; Fewer than 16 bytes left: 8, then 4, then single bytes.
    (local.set $k64 (i64x2.extract_lane 0 (local.get $k)))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 8)) (local.get $end))
      (then
        (i64.store (local.get $p) (i64.xor (i64.load (local.get $p)) (local.get $k64)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
      (then
        (i32.store (local.get $p) (i32.xor (i32.load (local.get $p)) (local.get $key)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $p) (local.get $end)))
        (i32.store8 (local.get $p) (i32.xor (i32.load8_u (local.get $p)) (local.get $key)))
        (local.set $key (i32.shr_u (local.get $key) (i32.const 8)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $by1))))

  ;; mask, and returns non-zero when any resulting byte has its top bit set (is not ASCII).
  (func (export "maskAscii") (param $p i32) (param $n i32) (param $key i32) (result i32)
    (local $end i32)
    (local $k v128)
    (local $k64 i64)
    (local $a v128)
    (local $b v128)
    (local $c v128)
    (local $d v128)
    (local $seen v128)
    (local $tail i64)
    (local $byte i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $k (i32x4.splat (local.get $key)))
    (block $done64
      (loop $by64
        (br_if $done64 (i32.gt_u (i32.add (local.get $p) (i32.const 64)) (local.get $end)))
        (local.set $a (v128.xor (v128.load offset=0 (local.get $p)) (local.get $k)))
        (local.set $b (v128.xor (v128.load offset=16 (local.get $p)) (local.get $k)))
        (local.set $c (v128.xor (v128.load offset=32 (local.get $p)) (local.get $k)))
        (local.set $d (v128.xor (v128.load offset=48 (local.get $p)) (local.get $k)))
        (v128.store offset=0 (local.get $p) (local.get $a))
        (v128.store offset=16 (local.get $p) (local.get $b))
        (v128.store offset=32 (local.get $p) (local.get $c))
        (v128.store offset=48 (local.get $p) (local.get $d))
        ;; OR the bytes together: the top bit of the sum is set iff one byte's is.
        (local.set $seen
          (v128.or (local.get $seen)
            (v128.or (v128.or (local.get $a) (local.get $b)) (v128.or (local.get $c) (local.get $d)))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $by64)))
    (block $done16
      (loop $by16
        (br_if $done16 (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
        (local.set $a (v128.xor (v128.load (local.get $p)) (local.get $k)))
        (v128.store (local.get $p) (local.get $a))
        (local.set $seen (v128.or (local.get $seen) (local.get $a)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $by16)))
    (local.set $k64 (i64x2.extract_lane 0 (local.get $k)))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 8)) (local.get $end))
      (then
        (local.set $tail (i64.xor (i64.load (local.get $p)) (local.get $k64)))
        (i64.store (local.get $p) (local.get $tail))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
      (then
        (local.set $byte (i32.xor (i32.load (local.get $p)) (local.get $key)))
        (i32.store (local.get $p) (local.get $byte))
        (local.set $tail (i64.or (local.get $tail) (i64.extend_i32_u (local.get $byte))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $byte (i32.and (i32.xor (i32.load8_u (local.get $p)) (local.get $key)) (i32.const 0xff)))
        (i32.store8 (local.get $p) (local.get $byte))
        (local.set $tail (i64.or (local.get $tail) (i64.extend_i32_u (local.get $byte))))
        (local.set $key (i32.shr_u (local.get $key) (i32.const 8)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $by1)))
    ;; i8x16.bitmask gathers the top bit of each byte.
    (i32.or
      (i8x16.bitmask (local.get $seen))
      (i64.ne (i64.and (local.get $tail) (i64.const 0x8080808080808080)) (i64.const 0)))))
