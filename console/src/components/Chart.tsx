// uPlot time series: a canvas sized to its container, redrawn on data or width changes.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
}

// Distinguishable stroke colours, in order (series beyond them reuse the list).
export const PALETTE = ["#0550ae", "#1a7f37", "#cf222e", "#8250df", "#bf8700", "#1b7c83", "#953800", "#57606a"];

interface Props {
  x: number[];
  series: ChartSeries[];
  height?: number;
  title: string;
  format?: (value: number) => string;
}

export function Chart({ x, series, height = 240, title, format = String }: Props) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const options: uPlot.Options = {
      width: Math.max(200, element.clientWidth),
      height,
      series: [
        {},
        ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: false } })),
      ],
      axes: [{}, { values: (_u: uPlot, ticks: number[]) => ticks.map(format), size: 60 }],
      scales: { x: { time: true } },
      legend: { show: true },
    };
    const data: uPlot.AlignedData = [x, ...series.map((s) => s.values)];
    const plot = new uPlot(options, data, element);
    const resize = new ResizeObserver(() => {
      plot.setSize({ width: Math.max(200, element.clientWidth), height });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [x, series, height, format]);
  return <div ref={box} className="chart" role="img" aria-label={title} />;
}
