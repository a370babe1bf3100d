# chart.gp: the chart of bench/results/latest.png, drawn by bench.sh.
#
# gnuplot -e "thr='...'; lat='...'; out='...'; subtitle='...'" chart.gp
#   thr: lines of "label" value target     (per second; target NaN if none)
#   lat: lines of "label" value target     (milliseconds; target NaN if none)

set terminal pngcairo size 1400,620 font "DejaVu Sans,10" noenhanced
set output out

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.8
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key off
set bmargin 5

set multiplot layout 1,2 title "webhook benchmark\n".subtitle

set title "Throughput (per second)"
set yrange [0:*]
set format y "%.0f"
set key top right
plot thr using 2:xtic(1) lc rgb "#4477aa" title "measured", \
	'' using 0:3:(0.4) with xerrorbars lc rgb "#cc3311" lw 2 pt 0 title "target", \
	'' using 0:2:(sprintf("%.0f", $2)) with labels offset 0,0.8 notitle

set title "Latency, commit to arrival (ms, log scale)"
set key top left
set logscale y
set yrange [0.1:*]
set format y "%g"
plot lat using 2:xtic(1) lc rgb "#ee7733" title "measured", \
	'' using 0:3:(0.4) with xerrorbars lc rgb "#cc3311" lw 2 pt 0 title "target", \
	'' using 0:2:(sprintf("%.2f", $2)) with labels offset 0,1 notitle

unset multiplot
