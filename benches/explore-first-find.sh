#!/bin/bash
# Mean seeds to the first buffer-leak of `faxsim explore` over 20 starting seeds
# (0, 1000, …, 19000), 300 seeds each. Usage (after `cargo build --release` and the
# explore tests, which build the fixtures):
#   bash benches/explore-first-find.sh target/tmp/explore-fixtures/libbuggy_order_dependent.so --policy random
lib=$1; shift
tot=0; n=0; miss=0
for k in $(seq 0 19); do
  from=$((k*1000))
  fs=$(./target/release/faxsim explore --ext $lib --seed $from --seeds 300 --format json "$@" | python3 -c "import json,sys; v=json.load(sys.stdin); print(min([f['first_seed'] for f in v['failures'] if f['rule']=='buffer-leak'] or [-1]))")
  if [ "$fs" = "-1" ]; then miss=$((miss+1)); else tot=$((tot + fs - from + 1)); n=$((n+1)); fi
done
echo "$(basename $lib) $*: mean $(python3 -c "print(round($tot/$n,1))") seeds to the first find ($n of 20 found within 300, $miss missed)"
