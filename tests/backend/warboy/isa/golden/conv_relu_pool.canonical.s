.op "conv1"
.op "relu1"
.op "pool1"
.program "main"
i0 = host.load dst=dram@0x20000:i8<16x8x32> src=host@0x0:i8<16x8x32> op=0
i1 = dma.load dst=sram[0:8]@0x0:i8<16x8x32> src=dram@0x20000:i8<16x8x32> broadcast=1 op=0 after=i0
i2 = dma.load dst=sram[0:8]@0x1000:i8<4x16x3x3> src=dram@0x0:i8<32x16x3x3> broadcast=0 op=0
i3 = dma.load dst=sram[0:8]@0x3000:i32<4> src=dram@0x10000:i32<32> broadcast=0 op=0
i4 = dma.load dst=sram[0:8]@0x3100:f32<4> src=dram@0x11000:f32<32> broadcast=0 op=0
i5 = dma.load dst=sram[0:8]@0x3200:i8<256> src=dram@0x12000:i8<256> broadcast=1 op=1
i6 = mac.conv dst=sram[0:8]@0x4000:i32<4x8x32> src=sram[0:8]@0x0:i8<16x8x32> weights=sram[0:8]@0x1000:i8<4x16x3x3> bias=sram[0:8]@0x3000:i32<4> stride=1,1 dilation=1,1 pads=1,1,1,1 group=1 x_zp=-3 op=0 after=i1,i2,i3
i7 = vec.requant dst=sram[0:8]@0x8000:i8<4x8x32> src=sram[0:8]@0x4000:i32<4x8x32> params=sram[0:8]@0x3100:f32<4> mode=onnxruntime axis=0 in_zp=0 out_zp=5 act_min=-128 act_max=127 op=0 after=i6,i4
i8 = tab.lookup dst=sram[0:8]@0x9000:i8<4x8x32> src=sram[0:8]@0x8000:i8<4x8x32> table=sram[0:8]@0x3200:i8<256> op=1 after=i7,i5
i9 = vec.pool dst=sram[0:8]@0xa000:i8<4x4x16> src=sram[0:8]@0x9000:i8<4x8x32> kind=max mode=tflite kernel=2,2 stride=2,2 pads=0,0,0,0 count_include_pad=0 x_zp=0 out_zp=0 x_scale=1.0 out_scale=1.0 act_min=-128 act_max=127 op=2 after=i8
i10 = dma.store dst=dram@0x21000:i8<32x4x16> src=sram[0:8]@0xa000:i8<4x4x16> op=2 after=i9
i11 = host.store dst=host@0x1000:i8<32x4x16> src=dram@0x21000:i8<32x4x16> op=2 after=i10
