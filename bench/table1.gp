# The chart of docs/table1.md: measured decode speedups of the sparse variants over the dense
# baseline (1 and 2 threads) beside the bandwidth limit (weight bytes of the baseline / of the
# variant). Data: docs/table1.dat, written by build/bench/bench/table1.
#   gnuplot bench/table1.gp     (from the repository root; writes docs/table1.png)
set terminal pngcairo size 1400,1000 font ",11"
set output "docs/table1.png"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 2
set yrange [0.5:*]
set grid ytics
set ylabel "speedup over the dense baseline"
set xtics rotate by -20 scale 0
set key top left
set multiplot layout 2,2 title "Sparse is Enough: Table 1 on this machine (fp32)"
titles = "'800M, per token' '800M, per decoder block' '800M, per decoder-only block' '17B, per decoder block'"
do for [i=0:3] {
  set title word(titles, i + 1)
  plot "docs/table1.dat" index i using 2:xtic(1) title "1 thread", \
       "" index i using 3 title "2 threads", \
       "" index i using 4 title "bandwidth limit"
}
unset multiplot
