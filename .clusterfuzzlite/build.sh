#!/bin/bash -eu
# Builds mmverify's libFuzzer targets the OSS-Fuzz way: the engine's
# compilers and flags ($CC, $CXX, $CFLAGS, $CXXFLAGS: sanitizer and
# coverage instrumentation), its main ($LIB_FUZZING_ENGINE), the targets and
# their seed corpora into $OUT. The source is $SRC/mmverify (Dockerfile), and
# intermediate files go to $WORK. Run outside Docker with those variables set
# (docs/fuzzing.md) to check it.
src="$SRC/mmverify"
build="$WORK/mmverify-build"
cmake -S "$src" -B "$build" -G Ninja \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMMV_FUZZ=ON -DMMV_FUZZ_ENGINE="$LIB_FUZZING_ENGINE"
cmake --build "$build" --target model_vs_impl_fuzzer oracle_fuzzer
for t in model_vs_impl_fuzzer oracle_fuzzer; do
  cp "$build/fuzz/$t" "$OUT/"
done
# The engine passes $OUT/<target>.dict to its target as -dict.
cp "$src/fuzz/model_vs_impl.dict" "$OUT/model_vs_impl_fuzzer.dict"
# Seed corpora: the regression corpus, as libFuzzer reads it (text inputs
# that start with their "# kind:" line are parsed as regression files).
(cd "$src/regressions" && python3 -m zipfile -c "$OUT/model_vs_impl_fuzzer_seed_corpus.zip" ./*.mmv)
(cd "$src/regressions" && python3 -m zipfile -c "$OUT/oracle_fuzzer_seed_corpus.zip" ./*.oracle)
