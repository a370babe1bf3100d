# chart.gp: the chart of bench/results/latest.png, drawn by bench.sh.
#
# gnuplot -e "drain='...'; tps='...'; wal='...'; lat='...'; out='...'; subtitle='...'; before='...'" chart.gp
#   drain: lines of "label" now before target (events or requests per second)
#   tps:   lines of "label" now before target (single-row INSERT transactions per second)
#   wal:   lines of "label" now before target (bytes per event or row)
#   lat:   lines of "label" now before target (milliseconds)
#   before: what the "before" bars are (the results committed before this run)
# A value or target that is NaN is not drawn (no figure, or no target).
# Each panel draws, per figure, the results before this run beside this
# run's, and the target as a red line across both.

set terminal pngcairo size 2000,640 font "DejaVu Sans,10" noenhanced
set output out

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set xtics rotate by -30 left
set bmargin 7
set datafile missing "NaN"

set multiplot layout 1,4 title "webhook benchmark\n".subtitle

# bars: before at $0 - 0.17, now at $0 + 0.17 (two series, gap 1)
set title "Drain, one worker, to nginx (per second)"
set yrange [0:*]
set format y "%.0f"
set key top right
plot drain using 3:xtic(1) lc rgb "#bbbbbb" title before, \
	'' using 2 lc rgb "#4477aa" title "this run", \
	'' using 0:4:(0.45) with xerrorbars lc rgb "#cc3311" lw 2 pt 0 title "target", \
	'' using ($0 + 0.17):2:(sprintf("%.0f", $2)) with labels offset 0,0.7 font ",8" notitle

set title "Single-row INSERT TPS (delivering: the worker alongside)"
plot tps using 3:xtic(1) lc rgb "#bbbbbb" title before, \
	'' using 2 lc rgb "#6699cc" title "this run", \
	'' using 0:4:(0.45) with xerrorbars lc rgb "#cc3311" lw 2 pt 0 title "target", \
	'' using ($0 + 0.17):2:(sprintf("%.0f", $2)) with labels offset 0,0.7 font ",8" notitle

set title "WAL and disk (bytes per event or row)"
set key top right
plot wal using 3:xtic(1) lc rgb "#bbbbbb" title before, \
	'' using 2 lc rgb "#228833" title "this run", \
	'' using 0:4:(0.45) with xerrorbars lc rgb "#cc3311" lw 2 pt 0 title "target", \
	'' using ($0 + 0.17):2:(sprintf("%.0f", $2)) with labels offset 0,0.7 font ",8" notitle

set title "Latency, commit to arrival (ms, log scale)"
set key top left
set logscale y
set yrange [0.1:*]
set format y "%g"
plot lat using 3:xtic(1) lc rgb "#bbbbbb" title before, \
	'' using 2 lc rgb "#ee7733" title "this run", \
	'' using 0:4:(0.45) with xerrorbars lc rgb "#cc3311" lw 2 pt 0 title "target", \
	'' using ($0 + 0.17):2:(sprintf("%.2f", $2)) with labels offset 0,1 font ",8" notitle

unset multiplot
