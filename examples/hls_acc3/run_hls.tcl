# Vitis HLS / Vivado HLS project script: vitis_hls -f run_hls.tcl  (or vivado_hls -f run_hls.tcl)
open_project -reset aster_ACC3NN_prj
set_top aster_ACC3NN
add_files aster_ACC3NN.cpp
add_files -tb aster_ACC3NN_tb.cpp
add_files -tb tb_inputs.txt
add_files -tb tb_expected.txt
open_solution -reset solution1
# pick your part and clock
set_part {xcu250-figd2104-2L-e}
create_clock -period 5 -name default
csim_design
csynth_design
# cosim_design
exit
